package health

import (
	"time"

	"github.com/scimgate/scimgate/pkg/scim"
)

// TimeLayout is how reports write times: RFC 3339 in UTC with exactly three
// fraction digits (milliseconds).
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Report is a connection's health as the admin API answers it
// (GET /admin/v1/connections/{tenant}/{sso}/health) and `scimgate
// connection show --json` prints it under "health".
type Report struct {
	Tenant string `json:"tenant"`
	SSO    string `json:"sso"`
	// AsOf is when the report was computed. What it shows lags the requests
	// by up to the writers' flush interval (docs/operations.md).
	AsOf string `json:"as_of"`
	// The latest request, success and error in the window (the last day);
	// null when there was none.
	LastRequest *CallReport `json:"last_request"`
	LastSuccess *CallReport `json:"last_success"`
	LastError   *CallReport `json:"last_error"`
	LastHour    Counts      `json:"last_hour"`
	LastDay     Counts      `json:"last_day"`
	// UserAgent is the User-Agent of the latest request, sanitised; "" when
	// none.
	UserAgent string `json:"user_agent"`
}

// CallReport is a Call in a report. ScimType and RequestID are set for
// errors only.
type CallReport struct {
	Time      string `json:"time"`
	Method    string `json:"method"`
	Route     string `json:"route"`
	Status    int    `json:"status"`
	ScimType  string `json:"scim_type,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func reportOf(c *Call, isError bool) *CallReport {
	if c == nil {
		return nil
	}
	r := &CallReport{Time: c.Time.UTC().Format(TimeLayout), Method: c.Method, Route: c.Route, Status: c.Status}
	if isError {
		r.ScimType, r.RequestID = c.ScimType, c.RequestID
	}
	return r
}

// Since is the earliest bucket hour a report at now reads.
func Since(now time.Time) time.Time { return now.UTC().Add(-Window).Truncate(time.Hour) }

// slotIndex numbers the slots since the Unix epoch.
func slotIndex(t time.Time) int64 { return t.Unix() / int64(SlotWidth/time.Second) }

// Summarize merges the buckets of every instance into conn's report at now:
// counts are summed per slot, the latest calls win. The hour is the slot
// now falls in and the 11 before it (55 to 60 minutes); the day the slot of
// now and the 287 before it. Buckets of other connections are ignored.
func Summarize(conn scim.Connection, buckets []Bucket, now time.Time) Report {
	now = now.UTC()
	cur := slotIndex(now)
	hourFrom := cur - int64(SlotsPerHour) + 1
	dayFrom := cur - int64(Window/SlotWidth) + 1
	var hour, day Counts
	var lastReq, lastOK, lastErr *Call
	ua := ""
	for i := range buckets {
		b := &buckets[i]
		if b.Conn != conn {
			continue
		}
		first := slotIndex(b.Hour.UTC().Truncate(time.Hour))
		for s, c := range b.Slots {
			idx := first + int64(s)
			if c.zero() || idx > cur || idx < dayFrom {
				continue
			}
			day.add(c)
			if idx >= hourFrom {
				hour.add(c)
			}
		}
		if b.LastRequest != nil && b.LastRequest.Time.Before(now.Add(-Window)) {
			continue // in the bucket's hour, but older than the window
		}
		if l := later(lastReq, b.LastRequest); l != lastReq {
			lastReq, ua = l, b.UserAgent
		}
		lastOK = later(lastOK, b.LastSuccess)
		lastErr = later(lastErr, b.LastError)
	}
	return Report{
		Tenant: conn.Tenant, SSO: conn.SSO, AsOf: now.Format(TimeLayout),
		LastRequest: reportOf(lastReq, lastReq != nil && lastReq.Status >= 400),
		LastSuccess: reportOf(lastOK, false),
		LastError:   reportOf(lastErr, true),
		LastHour:    hour, LastDay: day, UserAgent: ua,
	}
}
