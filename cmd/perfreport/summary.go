package main

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type headlineText struct {
	answers []string
	targets [][3]string
}

func headline(r *results) headlineText {
	var h headlineText
	sq, dd := sqliteCurves(r), ddbCurves(r)
	var sqParts []string
	for _, c := range sq {
		sqParts = append(sqParts, fmt.Sprintf("%s %.2f× (slowest point %.2f× the fastest)", c.name, c.endRatio(), c.ratio()))
	}
	ddFlat := true
	for _, c := range dd {
		ddFlat = ddFlat && c.flat()
	}
	h.answers = append(h.answers, fmt.Sprintf("**Does it stay flat with 100,000 users and a 50,000-member group?** On DynamoDB, yes by construction and by "+
		"measurement: a GET by id is %s, a `userName eq` lookup %s, adding or removing one member %s, at every size measured (`startIndex` paging is "+
		"the exception: it reads what it skips; cursors do not). On the embedded store, time from the smallest to the largest point "+
		"(1k→100k users, 1→50k members): %s.",
		ddbCost(dd, "GET by id"), ddbCost(dd, "`userName eq` lookup"), ddbCost(dd, "add one member"), strings.Join(sqParts, ", ")))
	for _, c := range sq {
		kind := "lookup"
		if strings.Contains(c.name, "member") {
			kind = "member change"
		}
		h.targets = append(h.targets, [3]string{fmt.Sprintf("embedded store, %s within 1.1× (%s)", c.name, kind),
			fmt.Sprintf("slowest point %.2f× the fastest (%s)", c.ratio(), joinDur(c.values)), yesNoReason(c.ratio() <= 1.1, "see section 2")})
	}
	h.targets = append(h.targets, [3]string{"DynamoDB, lookups and member changes flat", fmt.Sprintf("calls and units identical at every point: %t", ddFlat), yesNoReason(ddFlat, "")})

	if cs := r.ColdStart; cs != nil {
		u, hl := median(cs.Users), median(cs.Hello)
		ratio := float64(u) / float64(hl)
		largest := binarySize{}
		for _, s := range cs.Sizes {
			if s.Bytes > largest.Bytes {
				largest = s
			}
		}
		h.answers = append(h.answers, fmt.Sprintf("**How fast does a function start?** The Users function's init takes %s (median of %d starts under the "+
			"Lambda emulator) against %s for a hello-world Go function built the same way: **%.2f×**. The largest arm64 binary, `%s`, is %.1f MiB.",
			msStr(u), cs.Runs, msStr(hl), ratio, largest.Name, float64(largest.Bytes)/(1<<20)))
		h.targets = append(h.targets, [3]string{"cold start ≤ 1.5× hello world", fmt.Sprintf("%.2f× (%s vs %s)", ratio, msStr(u), msStr(hl)), yesNoReason(ratio <= 1.5, "see section 3")})
		h.targets = append(h.targets, [3]string{"every binary ≤ 12 MB (linux/arm64)", fmt.Sprintf("largest %d bytes (%s)", largest.Bytes, largest.Name), yesNoReason(largest.Bytes <= 12_000_000, "")})
	}
	if len(r.Load) > 0 {
		before, after, ref := loadAt(r, "before", 8), loadAt(r, "after", 8), loadAt(r, buildScim2Server, 8)
		if after != nil {
			s := fmt.Sprintf("**How fast is the local server?** %.0f requests/s at concurrency 8 on the Okta replay (create p50 %s, p99 %s)",
				after.reqPerSec(), msStr(after.percentile("create", 0.5)), msStr(after.percentile("create", 0.99)))
			if before != nil {
				s += fmt.Sprintf(", against %.0f requests/s (create p50 %s) before group commit, measured in the same run: **%.1f×**",
					before.reqPerSec(), msStr(before.percentile("create", 0.5)), after.reqPerSec()/before.reqPerSec())
			}
			if ref != nil {
				s += fmt.Sprintf("; scim2-server, the reference Python SCIM server, answered the same replay with %.0f requests/s (create p50 %s): "+
					"scimgate is **%.1f×** as fast", ref.reqPerSec(), msStr(ref.percentile("create", 0.5)), after.reqPerSec()/ref.reqPerSec())
			}
			h.answers = append(h.answers, s+".")
			h.targets = append(h.targets, [3]string{"≥ 3,000 requests/s at concurrency 8 (embedded store, synchronous FULL)",
				fmt.Sprintf("%.0f requests/s", after.reqPerSec()), yesNoReason(after.reqPerSec() >= 3000, "see section 4")})
			h.targets = append(h.targets, scim2ServerTarget(r, after, ref))
		}
	}
	if okta, steady, ok := costs(r); ok {
		h.answers = append(h.answers, fmt.Sprintf("**What does it cost per million SCIM requests on AWS?** $%.2f for the Okta provisioning mix, $%.2f for a "+
			"steady-state mix of lookups and GETs (Lambda, API Gateway, DynamoDB on-demand, CloudWatch Logs; us-east-1 prices of %s; arithmetic in section 5).",
			okta.total(), steady.total(), pricesDate))
	}
	h.targets = append(h.targets, [3]string{"`make bench-report` under 10 minutes on this machine", round(r.Elapsed), yesNoReason(r.Elapsed < 10*time.Minute, "")})
	return h
}

// loadAt is the replay of build at concurrency c, nil when there is none.
func loadAt(r *results, build string, c int) *loadRun {
	for i := range r.Load {
		if r.Load[i].Build == build && r.Load[i].Concurrency == c {
			return &r.Load[i]
		}
	}
	return nil
}

// scim2ServerTarget is the target row of the ratio to scim2-server at
// concurrency 8: never a figure that was not measured in this run.
func scim2ServerTarget(r *results, after, ref *loadRun) [3]string {
	const target = "≥ 20× scim2-server in the same run (concurrency 8)"
	switch {
	case ref != nil:
		ratio := after.reqPerSec() / ref.reqPerSec()
		return [3]string{target, fmt.Sprintf("%.1f× (%.0f vs %.0f requests/s)", ratio, after.reqPerSec(), ref.reqPerSec()),
			yesNoReason(ratio >= 20, "see section 4")}
	case r.Scim2ServerNotMeasured != "":
		return [3]string{target, "scim2-server not measured: " + r.Scim2ServerNotMeasured, "not measured"}
	default:
		return [3]string{target, "scim2-server not measured at concurrency 8 in this run", "not measured"}
	}
}

func yesNoReason(ok bool, reason string) string {
	if ok {
		return "yes"
	}
	if reason == "" {
		return "**no**"
	}
	return "**no**, " + reason
}

func ddbCost(curves []curve, name string) string {
	for _, c := range curves {
		if c.name == name {
			return fmt.Sprintf("%s calls, %s RRU, %s WRU", num(c.calls[0]), num(c.rru[0]), num(c.wru[0]))
		}
	}
	return "not measured"
}

// ---- cost ----

type mixCost struct {
	name              string
	recipe            string
	rru, wru          float64 // per request, token check included
	durationMs        float64
	memoryMB          int
	logBytes          float64
	lambdaGBs         float64 // per 1M requests
	lines             [][2]string
	lambda, lambdaReq float64
	apigw, rruUSD     float64
	wruUSD, logsUSD   float64
}

func (m mixCost) total() float64 {
	return m.lambda + m.lambdaReq + m.apigw + m.rruUSD + m.wruUSD + m.logsUSD
}

var memoryDefault = regexp.MustCompile(`(?s)FunctionMemorySize:\s*\n\s*Type: Number\s*\n\s*Default: (\d+)`)

func templateMemory() int {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		return 0
	}
	m := memoryDefault.FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// costs computes both mixes; ok is false when a figure it needs was not measured.
func costs(r *results) (okta, steady mixCost, ok bool) {
	cs := r.ColdStart
	if cs == nil || len(cs.HandlerDurations) == 0 || r.Sequences == nil || r.Calls == nil {
		return okta, steady, false
	}
	durMs := math.Ceil(float64(median(cs.HandlerDurations).Microseconds()) / 1000) // billed in 1 ms steps
	mem := templateMemory()
	if mem == 0 {
		return okta, steady, false
	}
	// Okta mix: the replay's proportions, 50 user lifecycles (5 requests each) per group created and PATCHed with 50 members.
	life, create, patch := r.Sequences["OktaUserLifecycle"], r.Sequences["CreateGroup"], r.Sequences["OktaGroupPatch50"]
	if life == nil || create == nil || patch == nil {
		return okta, steady, false
	}
	reqs := 50*life["requests/op"] + create["requests/op"] + patch["requests/op"]
	okta = mixCost{name: "Okta provisioning mix",
		recipe: "the throughput replay's proportions: per 50 users 50 × (lookup, create, get, replace, deactivate) + 1 group create + 1 PATCH adding 50 members (252 requests)",
		rru:    (50*life["rru/op"]+create["rru/op"]+patch["rru/op"])/reqs + 1,
		wru:    (50*life["wru/op"] + create["wru/op"] + patch["wru/op"]) / reqs,
	}
	// Steady state: mostly reads.
	g, f, p, a := r.Calls["GetUser"], r.Calls["FilterUserName"], r.Calls["PatchUserActive"], r.Calls["AddMember1"]
	if g == nil || f == nil || p == nil || a == nil {
		return okta, steady, false
	}
	steady = mixCost{name: "steady-state mix",
		recipe: "45% GET user by id, 45% `userName eq` lookup, 5% user PATCH, 5% one-member group PATCH",
		rru:    0.45*g["rru/op"] + 0.45*f["rru/op"] + 0.05*p["rru/op"] + 0.05*a["rru/op"] + 1,
		wru:    0.45*g["wru/op"] + 0.45*f["wru/op"] + 0.05*p["wru/op"] + 0.05*a["wru/op"],
	}
	for _, m := range []*mixCost{&okta, &steady} {
		m.durationMs, m.memoryMB, m.logBytes = durMs, mem, cs.LogBytesPerRequest
		m.lambdaGBs = 1e6 * durMs / 1000 * float64(mem) / 1024
		m.lambda = m.lambdaGBs * prices["lambdaGBs"].usd
		m.lambdaReq = prices["lambdaReq"].usd
		m.apigw = prices["apigw"].usd
		m.rruUSD = m.rru * prices["rru"].usd
		m.wruUSD = m.wru * prices["wru"].usd
		m.logsUSD = 1e6 * m.logBytes / 1e9 * prices["logs"].usd
	}
	return okta, steady, true
}

func costSection(r *results) string {
	okta, steady, ok := costs(r)
	if !ok {
		return "Not computed: a figure it needs (handler duration, request units) was not measured in this run.\n"
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("Inputs, all measured in this run: request units per request from section 1 plus 1 RRU for the bearer-token GetItem every request makes; ")
	w("the handler duration is the median `Duration` of the emulator's REPORT lines over %d warm invokes of the lookup event (%s, billed as %.0f ms; ",
		r.ColdStart.LogSample, msStr(median(r.ColdStart.HandlerDurations)), okta.durationMs)
	w("it includes moto's latency on loopback, which is no faster than DynamoDB's, so it is an upper bound for reads and close for writes); memory %d MB, the template's ", okta.memoryMB)
	w("`FunctionMemorySize` default; log bytes per request %.0f, everything the function and the emulator printed per warm invoke (the JSON access log line and the START/END/REPORT lines Lambda also sends to CloudWatch). ", okta.logBytes)
	w("Free tiers are left out; init time is not billed separately and cold starts are rare at provisioning rates.\n\n")
	w("| per 1M requests | %s | %s |\n| --- | --- | --- |\n", okta.name, steady.name)
	w("| mix | %s | %s |\n", okta.recipe, steady.recipe)
	w("| Lambda duration | 1M × %.0f ms × %d/1024 GB = %.0f GB-s × $%s = **$%.2f** | the same: **$%.2f** |\n",
		okta.durationMs, okta.memoryMB, okta.lambdaGBs, strconv.FormatFloat(prices["lambdaGBs"].usd, 'f', -1, 64), okta.lambda, steady.lambda)
	w("| Lambda requests | **$%.2f** | **$%.2f** |\n", okta.lambdaReq, steady.lambdaReq)
	w("| API Gateway HTTP API | **$%.2f** | **$%.2f** |\n", okta.apigw, steady.apigw)
	w("| DynamoDB reads | %.2f RRU/request × $%.3f = **$%.2f** | %.2f RRU/request × $%.3f = **$%.2f** |\n",
		okta.rru, prices["rru"].usd, okta.rruUSD, steady.rru, prices["rru"].usd, steady.rruUSD)
	w("| DynamoDB writes | %.2f WRU/request × $%.3f = **$%.2f** | %.2f WRU/request × $%.3f = **$%.2f** |\n",
		okta.wru, prices["wru"].usd, okta.wruUSD, steady.wru, prices["wru"].usd, steady.wruUSD)
	w("| CloudWatch Logs | 1M × %.0f bytes = %.3f GB × $%.2f = **$%.2f** | **$%.2f** |\n",
		okta.logBytes, 1e6*okta.logBytes/1e9, prices["logs"].usd, okta.logsUSD, steady.logsUSD)
	w("| **total** | **$%.2f** | **$%.2f** |\n\n", okta.total(), steady.total())
	w("API Gateway is the largest single item for reads; for the Okta mix DynamoDB's transactional writes are (every create writes the user, its ")
	w("userName and externalId guards and a counter shard, each at twice the unit rate of a plain write).\n")
	return b.String()
}
