package freeze_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pandadeploy/panda/freeze"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestActive(t *testing.T) {
	t.Parallel()
	weekend := freeze.Window{Cron: "0 18 * * FRI", Duration: 62 * time.Hour, Timezone: "Europe/Berlin", Reason: "weekend"}
	tests := []struct {
		name    string
		windows []freeze.Window
		now     string
		want    string // Until in RFC 3339, "" for no freeze
		reason  string
	}{
		{name: "fixed_inside", windows: []freeze.Window{{Start: "2024-12-24T00:00:00Z", End: "2024-12-27T00:00:00Z", Reason: "xmas"}},
			now: "2024-12-25T12:00:00Z", want: "2024-12-27T00:00:00Z", reason: "xmas"},
		{name: "fixed_start_is_inside", windows: []freeze.Window{{Start: "2024-12-24T00:00:00Z", End: "2024-12-27T00:00:00Z"}},
			now: "2024-12-24T00:00:00Z", want: "2024-12-27T00:00:00Z"},
		{name: "fixed_end_is_outside", windows: []freeze.Window{{Start: "2024-12-24T00:00:00Z", End: "2024-12-27T00:00:00Z"}},
			now: "2024-12-27T00:00:00Z"},
		{name: "fixed_local_in_zone", windows: []freeze.Window{{Start: "2024-12-24 00:00", End: "2024-12-27 00:00", Timezone: "Asia/Seoul"}},
			now: "2024-12-23T15:00:00Z", want: "2024-12-26T15:00:00Z"},
		{name: "fixed_local_before_zone_midnight", windows: []freeze.Window{{Start: "2024-12-24 00:00", End: "2024-12-27 00:00", Timezone: "Asia/Seoul"}},
			now: "2024-12-23T14:59:59Z"},
		{name: "weekly_friday_evening", windows: []freeze.Window{weekend},
			now: "2024-06-07T17:00:00Z", want: "2024-06-10T06:00:00Z", reason: "weekend"}, // 19:00 CEST; Monday 08:00 CEST
		{name: "weekly_before_start", windows: []freeze.Window{weekend}, now: "2024-06-07T15:59:00Z"},
		{name: "weekly_monday_after_end", windows: []freeze.Window{weekend}, now: "2024-06-10T06:00:00Z"},
		// 2024-10-27: Berlin leaves summer time (03:00 CEST → 02:00 CET). Friday
		// 18:00 CEST + 62 h of wall clock is Monday 08:00 CET = 07:00 UTC, 63 h later.
		{name: "weekly_over_dst_end", windows: []freeze.Window{weekend},
			now: "2024-10-28T06:30:00Z", want: "2024-10-28T07:00:00Z", reason: "weekend"},
		// 2024-03-31: Berlin enters summer time (02:00 CET → 03:00 CEST):
		// Monday 08:00 CEST = 06:00 UTC, 61 h after Friday 18:00 CET.
		{name: "weekly_over_dst_start", windows: []freeze.Window{weekend},
			now: "2024-04-01T05:59:00Z", want: "2024-04-01T06:00:00Z", reason: "weekend"},
		{name: "weekly_over_dst_start_after", windows: []freeze.Window{weekend}, now: "2024-04-01T06:00:00Z"},
		// A daily 02:30 start does not exist on the night clocks skip 02:00–03:00;
		// that night's window still runs, to its wall-clock end 03:30 CEST.
		{name: "daily_start_in_skipped_hour", windows: []freeze.Window{{Cron: "30 2 * * *", Duration: time.Hour, Timezone: "Europe/Berlin"}},
			now: "2024-03-31T01:10:00Z", want: "2024-03-31T01:30:00Z"},
		{name: "daily_normal_night", windows: []freeze.Window{{Cron: "30 2 * * *", Duration: time.Hour, Timezone: "Europe/Berlin"}},
			now: "2024-04-01T00:45:00Z", want: "2024-04-01T01:30:00Z"},
		// A fixed local window over the autumn change lasts one hour longer.
		{name: "fixed_local_over_dst_end", windows: []freeze.Window{{Start: "2024-10-27T00:00", End: "2024-10-27T06:00", Timezone: "Europe/Berlin"}},
			now: "2024-10-27T04:30:00Z", want: "2024-10-27T05:00:00Z"},
		{name: "chained_windows", windows: []freeze.Window{
			{Start: "2024-12-24T00:00:00Z", End: "2024-12-27T00:00:00Z", Reason: "xmas"},
			{Start: "2024-12-27T00:00:00Z", End: "2025-01-02T00:00:00Z", Reason: "new year"},
		}, now: "2024-12-25T00:00:00Z", want: "2025-01-02T00:00:00Z", reason: "xmas"},
		{name: "separate_windows_do_not_chain", windows: []freeze.Window{
			{Start: "2024-12-24T00:00:00Z", End: "2024-12-27T00:00:00Z"},
			{Start: "2024-12-27T00:00:01Z", End: "2025-01-02T00:00:00Z"},
		}, now: "2024-12-25T00:00:00Z", want: "2024-12-27T00:00:00Z"},
		{name: "none", now: "2024-12-25T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rules []freeze.Rule
			for _, w := range tt.windows {
				r, err := freeze.Compile(w)
				if err != nil {
					t.Fatalf("Compile(%+v): %v", w, err)
				}
				rules = append(rules, r)
			}
			f, ok := freeze.Active(rules, mustTime(t, tt.now))
			if tt.want == "" {
				if ok {
					t.Fatalf("Active = %v, %q; want no freeze", f.Until, f.Reason)
				}
				return
			}
			if !ok || !f.Until.Equal(mustTime(t, tt.want)) || f.Reason != tt.reason {
				t.Fatalf("Active = %v, %q, %v; want %s, %q", f.Until.UTC(), f.Reason, ok, tt.want, tt.reason)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		w    freeze.Window
		want string
	}{
		{name: "empty", w: freeze.Window{}, want: "needs start and end, or cron and duration"},
		{name: "both", w: freeze.Window{Start: "2024-01-01T00:00:00Z", End: "2024-01-02T00:00:00Z", Cron: "0 18 * * FRI", Duration: time.Hour}, want: "not both"},
		{name: "no_end", w: freeze.Window{Start: "2024-01-01T00:00:00Z"}, want: "both start and end"},
		{name: "end_before_start", w: freeze.Window{Start: "2024-01-02T00:00:00Z", End: "2024-01-01T00:00:00Z"}, want: "end must be after start"},
		{name: "bad_time", w: freeze.Window{Start: "next friday", End: "2024-01-01T00:00:00Z"}, want: "start: \"next friday\" is not an RFC 3339 time"},
		{name: "skipped_local_time", w: freeze.Window{Start: "2024-03-31T02:30", End: "2024-03-31T05:00", Timezone: "Europe/Berlin"}, want: "does not exist in Europe/Berlin"},
		{name: "bad_zone", w: freeze.Window{Start: "2024-01-01T00:00", End: "2024-01-02T00:00", Timezone: "Mars/Olympus"}, want: "not an IANA time zone"},
		{name: "local_zone", w: freeze.Window{Start: "2024-01-01T00:00", End: "2024-01-02T00:00", Timezone: "Local"}, want: "not an IANA time zone"},
		{name: "path_zone", w: freeze.Window{Start: "2024-01-01T00:00", End: "2024-01-02T00:00", Timezone: "../../etc/passwd"}, want: "not an IANA time zone"},
		{name: "bad_cron", w: freeze.Window{Cron: "0 25 * * FRI", Duration: time.Hour}, want: "cron:"},
		{name: "six_fields", w: freeze.Window{Cron: "0 0 18 * * FRI", Duration: time.Hour}, want: "five fields"},
		{name: "descriptor", w: freeze.Window{Cron: "@every 1h", Duration: time.Hour}, want: "five fields"},
		{name: "cron_tz", w: freeze.Window{Cron: "CRON_TZ=UTC 0 18 * * FRI", Duration: time.Hour}, want: "five fields"},
		{name: "no_duration", w: freeze.Window{Cron: "0 18 * * FRI"}, want: "positive duration"},
		{name: "too_long", w: freeze.Window{Cron: "0 18 * * FRI", Duration: 15 * 24 * time.Hour}, want: "at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := freeze.Compile(tt.w)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile(%+v) = %v; want an error containing %q", tt.w, err, tt.want)
			}
		})
	}
}

func FuzzCompile(f *testing.F) {
	f.Add("0 18 * * FRI", "2024-01-01T00:00", "Europe/Berlin", int64(time.Hour))
	f.Fuzz(func(t *testing.T, cron, start, zone string, d int64) {
		w := freeze.Window{Cron: cron, Duration: time.Duration(d), Timezone: zone}
		if d%2 == 0 {
			w = freeze.Window{Start: start, End: cron, Timezone: zone}
		}
		r, err := freeze.Compile(w)
		if err == nil {
			freeze.Active([]freeze.Rule{r}, time.Date(2024, 10, 27, 1, 30, 0, 0, time.UTC))
		}
	})
}
