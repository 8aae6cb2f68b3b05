package rollout_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/pandadeploy/panda/internal/awstest"
	"github.com/pandadeploy/panda/pipeline/rollout"
)

// seedInterval is how often the seed read the whole history.
const seedInterval = 2 * time.Second

// minuteFigures is what following an execution for one simulated minute cost.
type minuteFigures struct {
	polls, historyCalls, eventsRead, describeCalls int
	newEvents                                      int64 // events the execution added, which the follower must see
}

// clock is the simulated time of a followed minute.
type clock interface {
	now() time.Duration
	sleep(d time.Duration)
}

// fakeClock advances only when slept on: for a history that cannot change.
type fakeClock struct{ t time.Duration }

func (c *fakeClock) now() time.Duration    { return c.t }
func (c *fakeClock) sleep(d time.Duration) { c.t += d }

// scaledClock runs speedup times faster than real time, so the time calls
// take counts too (2 ms real at 50× is 0.1 s, about an AWS call's latency).
type scaledClock struct {
	start   time.Time
	speedup time.Duration
}

func (c *scaledClock) now() time.Duration    { return time.Since(c.start) * c.speedup }
func (c *scaledClock) sleep(d time.Duration) { time.Sleep(d / c.speedup) }

// followMinute follows arn for one simulated minute, polling on NextInterval's
// schedule (each poll due an interval after the previous one started, as the
// re-enqueued follow task is).
func (f *fixture) followMinute(t *testing.T, arn string, cur rollout.Cursor, c clock) (minuteFigures, rollout.Cursor) {
	t.Helper()
	f.counter.take()
	describes := f.srv.CallCount("DescribeExecution")
	var m minuteFigures
	from := cur.LastEventID
	for start := c.now(); c.now()-start < time.Minute; {
		began := c.now()
		p, err := f.client.Poll(t.Context(), arn, cur)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		m.polls++
		cur = p.Cursor
		if p.Done {
			t.Fatalf("the execution ended after %d polls", m.polls)
		}
		c.sleep(began + rollout.NextInterval(cur) - c.now())
	}
	m.historyCalls, m.eventsRead = f.counter.take()
	m.describeCalls = f.srv.CallCount("DescribeExecution") - describes
	m.newEvents = cur.LastEventID - from
	return m, cur
}

// seedMinute reads the whole history every seedInterval for one simulated
// minute, as the seed did, and returns what that cost.
func (f *fixture) seedMinute(t *testing.T, arn string, c clock) minuteFigures {
	t.Helper()
	f.counter.take()
	var m minuteFigures
	for start := c.now(); c.now()-start < time.Minute; {
		began := c.now()
		var token *string
		for {
			page, err := f.counter.GetExecutionHistory(t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), NextToken: token})
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			if token = page.NextToken; token == nil {
				break
			}
		}
		m.polls++
		c.sleep(began + seedInterval - c.now())
	}
	m.historyCalls, m.eventsRead = f.counter.take()
	return m
}

// TestStepFunctionsCallsPerMinute counts the Step Functions calls and history
// events one followed execution costs per minute, against the seed's full
// history read every 2 s, in two situations:
//
//   - quiet: the execution hangs in BlueGreenDeployment (awstest HangAt), so no
//     event arrives; the history is fixed, so the simulated minute needs no
//     real waiting.
//   - busy: the execution goes round the DeploymentStatus/WaitForDeployment
//     loop, adding about 34 events a minute as a real rollout does (9 events
//     per 15 s wait and check); time runs 50 times faster than real, so the
//     minute takes 1.2 s.
//
// Run with -v to see the figures (docs/BENCHMARKS.md quotes them).
func TestStepFunctionsCallsPerMinute(t *testing.T) {
	t.Parallel()
	t.Run("quiet", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, time.Millisecond, awstest.BlueGreenDefinition())
		f.srv.SetOutcome(f.machine, awstest.Outcome{HangAt: "BlueGreenDeployment"})
		arn := f.start(t, "dep_quiet")
		waitForState(t, f, arn, "BlueGreenDeployment")
		time.Sleep(50 * time.Millisecond) // the task's scheduled and started events follow its entry

		first, cur := f.followMinute(t, arn, rollout.Cursor{}, &fakeClock{})
		steady, _ := f.followMinute(t, arn, cur, &fakeClock{})
		seed := f.seedMinute(t, arn, &fakeClock{})
		logFigures(t, "quiet", cur.LastEventID, first, steady, seed)

		if seed.historyCalls != 30 || seed.eventsRead != 30*int(cur.LastEventID) {
			t.Errorf("seed: %d calls reading %d events, want 30 reading %d", seed.historyCalls, seed.eventsRead, 30*cur.LastEventID)
		}
		// One probe per poll, plus one page of the history on the first.
		if first.historyCalls != first.polls+1 || first.eventsRead != int(cur.LastEventID)+first.polls {
			t.Errorf("first minute: %d calls reading %d events in %d polls", first.historyCalls, first.eventsRead, first.polls)
		}
		if steady.historyCalls != steady.polls || steady.eventsRead != steady.polls || steady.polls > 5 {
			t.Errorf("steady minute: %d calls reading %d events in %d polls; want one 1-event probe per poll, at most 5", steady.historyCalls, steady.eventsRead, steady.polls)
		}
	})
	t.Run("busy", func(t *testing.T) {
		t.Parallel()
		const speedup = 50
		eventEvery := 15 * time.Second / 9
		f := newFixture(t, eventEvery/speedup, awstest.BlueGreenDefinition())
		loop := make([]string, 60)
		for i := range loop {
			loop[i] = "WaitForDeployment"
		}
		f.srv.SetOutcome(f.machine, awstest.Outcome{ChoicesInTurn: map[string][]string{"DeploymentStatus": loop}})

		panda, cur := f.followMinute(t, f.start(t, "dep_busy"), rollout.Cursor{}, &scaledClock{start: time.Now(), speedup: speedup})
		seed := f.seedMinute(t, f.start(t, "dep_busy_seed"), &scaledClock{start: time.Now(), speedup: speedup})
		logFigures(t, "busy", cur.LastEventID, panda, minuteFigures{}, seed)

		if panda.newEvents < 20 {
			t.Fatalf("only %d events arrived in the minute; the simulation is off", panda.newEvents)
		}
		// A probe per poll, a page when there is news, and at most one more
		// page when events arrive between probe and page.
		if panda.historyCalls > 3*panda.polls || panda.eventsRead > 2*int(panda.newEvents)+panda.polls {
			t.Errorf("busy minute: %d calls reading %d events for %d new ones", panda.historyCalls, panda.eventsRead, panda.newEvents)
		}
		if panda.eventsRead*3 > seed.eventsRead {
			t.Errorf("busy minute: read %d events, the seed %d; want under a third", panda.eventsRead, seed.eventsRead)
		}
	})
}

// waitForState waits until the execution's newest event entered state.
func waitForState(t *testing.T, f *fixture, arn, state string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		p, err := f.client.Poll(ctx, arn, rollout.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Cursor.State == state {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("execution never reached %s (at %q)", state, p.Cursor.State)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func logFigures(t *testing.T, name string, historyLen int64, panda, steady, seed minuteFigures) {
	t.Helper()
	t.Logf("%s: history of %d events at the end", name, historyLen)
	t.Logf("%s: panda, first minute:  %d polls, %d GetExecutionHistory, %d DescribeExecution, %d events read, %d new events",
		name, panda.polls, panda.historyCalls, panda.describeCalls, panda.eventsRead, panda.newEvents)
	if steady.polls > 0 {
		t.Logf("%s: panda, steady minute: %d polls, %d GetExecutionHistory, %d DescribeExecution, %d events read, %d new events",
			name, steady.polls, steady.historyCalls, steady.describeCalls, steady.eventsRead, steady.newEvents)
	}
	t.Logf("%s: seed (full history every 2 s): %d GetExecutionHistory, %d events read", name, seed.historyCalls, seed.eventsRead)
}
