package webhook

// Each event type reads the members its json tags name (payloads.go), and
// skips the others. A member repeated in a payload is decoded each time, the
// last one winning, as with encoding/json.

func (a *account) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "login":
			return s.str(&a.Login)
		case "type":
			return s.str(&a.Type)
		}
		return s.skip()
	})
}

func (r *installationRef) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "id":
			return s.int64(&r.ID)
		case "account":
			return r.Account.decodeJSON(s)
		case "repository_selection":
			return s.str(&r.RepositorySelection)
		}
		return s.skip()
	})
}

func (r *repository) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "id":
			return s.int64(&r.ID)
		case "full_name":
			return s.str(&r.FullName)
		}
		return s.skip()
	})
}

// repositories decodes an array of repositories as encoding/json fills a
// slice: null sets it to nil, an array replaces its elements.
func repositories(s *scanner, rs *[]repository) error {
	list := (*rs)[:0]
	null, err := s.array(func() error {
		list = append(list, repository{})
		return list[len(list)-1].decodeJSON(s)
	})
	if null {
		list = nil
	}
	*rs = list
	return err
}

func (c *headCommit) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "id":
			return s.str(&c.ID)
		case "message":
			return s.str(&c.Message)
		}
		return s.skip()
	})
}

func (e *pushEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "ref":
			return s.str(&e.Ref)
		case "after":
			return s.str(&e.After)
		case "deleted":
			return s.boolean(&e.Deleted)
		case "head_commit":
			return decodePtr(s, &e.HeadCommit)
		case "repository":
			return e.Repo.decodeJSON(s)
		case "sender":
			return e.Sender.decodeJSON(s)
		case "installation":
			return e.Installation.decodeJSON(s)
		}
		return s.skip()
	})
}

// decodePtr decodes into *p as encoding/json does into a pointer: null sets
// it to nil, an object is decoded into what it points to, new if nil.
func decodePtr[T any, PT interface {
	*T
	decodeJSON(*scanner) error
}](s *scanner, p **T) error {
	if s.null() {
		*p = nil
		return nil
	}
	if *p == nil {
		*p = new(T)
	}
	return PT(*p).decodeJSON(s)
}

func (p *pullRequest) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		if string(name) == "url" {
			return s.str(&p.URL)
		}
		return s.skip()
	})
}

func (e *issueCommentEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "action":
			return s.str(&e.Action)
		case "issue":
			return s.object(func(name []byte) error {
				switch string(name) {
				case "number":
					return s.int(&e.Issue.Number)
				case "pull_request":
					return decodePtr(s, &e.Issue.PullRequest)
				}
				return s.skip()
			})
		case "comment":
			return s.object(func(name []byte) error {
				switch string(name) {
				case "id":
					return s.int64(&e.Comment.ID)
				case "body":
					return s.str(&e.Comment.Body)
				case "user":
					return e.Comment.User.decodeJSON(s)
				}
				return s.skip()
			})
		case "repository":
			return e.Repo.decodeJSON(s)
		case "sender":
			return e.Sender.decodeJSON(s)
		case "installation":
			return e.Installation.decodeJSON(s)
		}
		return s.skip()
	})
}

func (a *requestedAction) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		if string(name) == "identifier" {
			return s.str(&a.Identifier)
		}
		return s.skip()
	})
}

func (e *checkRunEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "action":
			return s.str(&e.Action)
		case "check_run":
			return s.object(func(name []byte) error {
				switch string(name) {
				case "id":
					return s.int64(&e.CheckRun.ID)
				case "external_id":
					return s.str(&e.CheckRun.ExternalID)
				case "head_sha":
					return s.str(&e.CheckRun.HeadSHA)
				}
				return s.skip()
			})
		case "requested_action":
			return decodePtr(s, &e.RequestedAction)
		case "repository":
			return e.Repo.decodeJSON(s)
		case "sender":
			return e.Sender.decodeJSON(s)
		case "installation":
			return e.Installation.decodeJSON(s)
		}
		return s.skip()
	})
}

func (e *checkSuiteEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "action":
			return s.str(&e.Action)
		case "check_suite":
			return s.object(func(name []byte) error {
				switch string(name) {
				case "id":
					return s.int64(&e.CheckSuite.ID)
				case "head_sha":
					return s.str(&e.CheckSuite.HeadSHA)
				}
				return s.skip()
			})
		case "repository":
			return e.Repo.decodeJSON(s)
		case "sender":
			return e.Sender.decodeJSON(s)
		case "installation":
			return e.Installation.decodeJSON(s)
		}
		return s.skip()
	})
}

func (e *installationEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "action":
			return s.str(&e.Action)
		case "installation":
			return e.Installation.decodeJSON(s)
		case "repositories":
			return repositories(s, &e.Repositories)
		}
		return s.skip()
	})
}

func (e *installationRepositoriesEvent) decodeJSON(s *scanner) error {
	return s.object(func(name []byte) error {
		switch string(name) {
		case "action":
			return s.str(&e.Action)
		case "installation":
			return e.Installation.decodeJSON(s)
		case "repository_selection":
			return s.str(&e.RepositorySelection)
		case "repositories_added":
			return repositories(s, &e.Added)
		case "repositories_removed":
			return repositories(s, &e.Removed)
		}
		return s.skip()
	})
}
