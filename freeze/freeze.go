// Package freeze decides whether a moment falls inside a deployment freeze:
// a fixed window (start and end, as RFC 3339 times or as local date-times in
// an IANA time zone) or a recurring one (a five-field cron expression for its
// start, a duration, and a time zone).
//
// It is pure time logic with no I/O: repoconfig compiles what .panda.yml
// says with Compile (so a wrong window is a line-and-field error before any
// deployment runs), and the worker asks Active whether a deployment about to
// start must wait. Daylight-saving time is handled the way a person reading
// the calendar means it: a recurring window's duration is wall-clock time in
// its zone ("Friday 18:00 for 62h" ends Monday 08:00 local, even when the
// clocks changed over the weekend), and a cron start in the hour the clocks
// skip still starts a window (see Rule.occurrence).
package freeze

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is one freeze as .panda.yml writes it. Either Start and End are set
// (a fixed window) or Cron and Duration are (a recurring one).
type Window struct {
	// Start and End are RFC 3339 times ("2024-12-24T00:00:00Z") or local
	// date-times ("2024-12-24T00:00" or "2024-12-24 00:00") read in Timezone.
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
	// Cron is when a recurring window starts: minute hour day-of-month month
	// day-of-week, read in Timezone ("0 18 * * FRI").
	Cron string `json:"cron,omitempty"`
	// Duration is how long each recurrence lasts, as wall-clock time in Timezone.
	Duration time.Duration `json:"duration,omitempty"`
	// Timezone is an IANA name ("Europe/Berlin"). If empty, UTC.
	Timezone string `json:"timezone,omitempty"`
	// Reason is shown to whoever's deployment waits.
	Reason string `json:"reason,omitempty"`
}

// MaxDuration bounds a recurring window: longer than two weeks is not a
// freeze but a closed environment, and the bound keeps Active's walk short.
const MaxDuration = 14 * 24 * time.Hour

// Rule is a compiled Window.
type Rule struct {
	w        Window
	loc      *time.Location
	start    time.Time // fixed windows
	end      time.Time
	schedule cron.Schedule // recurring windows
}

// Freeze is a freeze in effect.
type Freeze struct {
	// Until is when the freeze ends: the end of the active window, extended
	// through every window that overlaps or touches it.
	Until time.Time
	// Reason is the active window's reason ("" if it gave none).
	Reason string
}

// Compile checks w and returns its Rule. The error says, for a person, which
// part is wrong; it never panics.
func Compile(w Window) (Rule, error) {
	loc := time.UTC
	if w.Timezone != "" {
		l, err := loadLocation(w.Timezone)
		if err != nil {
			return Rule{}, err
		}
		loc = l
	}
	r := Rule{w: w, loc: loc}
	fixed := w.Start != "" || w.End != ""
	recurring := w.Cron != "" || w.Duration != 0
	switch {
	case fixed && recurring:
		return Rule{}, errors.New("a window has either start and end, or cron and duration, not both")
	case fixed:
		return r.compileFixed()
	case recurring:
		return r.compileRecurring()
	}
	return Rule{}, errors.New("a window needs start and end, or cron and duration")
}

// loadLocation accepts IANA names only: time.LoadLocation also takes "Local"
// (the worker's own zone, which a repository cannot know) and file paths.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, fmt.Errorf("timezone %q is not an IANA time zone name like Europe/Berlin", name)
	}
	// LoadLocation refuses paths (".." or a leading slash) itself.
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("timezone %q is not an IANA time zone name like Europe/Berlin", name)
	}
	return loc, nil
}

func (r Rule) compileFixed() (Rule, error) {
	if r.w.Start == "" || r.w.End == "" {
		return Rule{}, errors.New("a fixed window needs both start and end")
	}
	var err error
	if r.start, err = parseTime(r.w.Start, r.loc); err != nil {
		return Rule{}, fmt.Errorf("start: %w", err)
	}
	if r.end, err = parseTime(r.w.End, r.loc); err != nil {
		return Rule{}, fmt.Errorf("end: %w", err)
	}
	if !r.end.After(r.start) {
		return Rule{}, errors.New("end must be after start")
	}
	return r, nil
}

func (r Rule) compileRecurring() (Rule, error) {
	switch {
	case r.w.Cron == "":
		return Rule{}, errors.New("a recurring window needs cron, when it starts")
	case r.w.Duration <= 0:
		return Rule{}, errors.New("a recurring window needs a positive duration, like 62h")
	case r.w.Duration > MaxDuration:
		return Rule{}, fmt.Errorf("duration must be at most %s", MaxDuration)
	case strings.Contains(r.w.Cron, "TZ=") || strings.HasPrefix(strings.TrimSpace(r.w.Cron), "@"):
		// The zone is the timezone field's; descriptors like @every are not
		// calendar times.
		return Rule{}, errors.New("cron must be five fields: minute hour day-of-month month day-of-week")
	}
	if len(strings.Fields(r.w.Cron)) != 5 {
		return Rule{}, errors.New("cron must be five fields: minute hour day-of-month month day-of-week")
	}
	s, err := cron.ParseStandard(r.w.Cron)
	if err != nil {
		return Rule{}, fmt.Errorf("cron: %v", err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = time.UTC // wall-clock readings: see occurrence
	}
	r.schedule = s
	return r, nil
}

// localLayouts are the local date-time forms accepted beside RFC 3339.
var localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

// parseTime reads an RFC 3339 time, or a local date-time in loc. A local
// time that does not exist (the hour skipped when clocks go forward) is
// refused rather than guessed; one that exists twice is the first.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range localLayouts {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			continue
		}
		if t.Format(layout) != s {
			return time.Time{}, fmt.Errorf("%q does not exist in %s (the clocks skip it)", s, loc)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a local date-time like 2024-12-24T18:00", s)
}

// Window returns the window r was compiled from.
func (r Rule) Window() Window { return r.w }

// occurrence returns the window of r containing now, if any.
//
// A recurring window is evaluated on the wall clock of its zone, written as
// UTC so that no hour is skipped or repeated: a start at 02:30 still happens
// on the night the clocks jump from 02:00 to 03:00 (robfig/cron, asked in the
// zone itself, would skip that day's freeze), and start plus duration is the
// wall-clock end a person means.
func (r Rule) occurrence(now time.Time) (start, end time.Time, ok bool) {
	if r.schedule == nil {
		return r.start, r.end, !now.Before(r.start) && now.Before(r.end)
	}
	wallNow := wall(now, r.loc)
	// Walk the starts from one duration back: only those can still run at now.
	t := wallNow.Add(-r.w.Duration - time.Second)
	for {
		next := r.schedule.Next(t)
		if next.IsZero() || next.After(wallNow) {
			return start, end, ok
		}
		if e := next.Add(r.w.Duration); wallNow.Before(e) {
			start, end, ok = fromWall(next, r.loc), fromWall(e, r.loc), true
		}
		t = next
	}
}

// wall is t's wall-clock reading in loc, written as a UTC time.
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// fromWall is the instant a wall-clock reading names in loc; a reading in a
// skipped hour is normalised by time.Date (02:30 becomes 03:30 summer time).
func fromWall(w time.Time, loc *time.Location) time.Time {
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), loc)
}

// Active reports the freeze in effect at now, if any. Windows that overlap or
// touch chain: a deployment waiting for one to end would otherwise start in
// the next. Rules are checked in order; the reason is the first active one's.
func Active(rules []Rule, now time.Time) (Freeze, bool) {
	var f Freeze
	found := false
	at := now
	// Each round extends Until past one more chained window; the bound keeps
	// an endless chain (a window every minute for a minute) from looping.
	for range 100 {
		extended := false
		for _, r := range rules {
			_, end, ok := r.occurrence(at)
			if !ok || !end.After(f.Until) {
				continue
			}
			if !found {
				f.Reason = r.w.Reason
				found = true
			}
			f.Until, extended = end, true
		}
		if !extended {
			break
		}
		at = f.Until
	}
	return f, found
}
