package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
	"github.com/scimgate/scimgate/pkg/sqlitestore"
)

// checkPageSize bounds how many connections --all reads at a time.
const checkPageSize = 100

// checkOutput is the --json document.
type checkOutput struct {
	// Schema: the embedded store's indexes found missing or altered when
	// the file was opened (recreated then, where the rows allowed it).
	Schema      []sqlitestore.SchemaIssue `json:"schema,omitempty"`
	Connections []*reconcile.Report       `json:"connections"`
	Violations  int                       `json:"violations"`
	Repaired    int                       `json:"repaired"`
}

// checkCommand verifies the store's invariants for one connection or all of
// them (docs/operations.md, "Reconciliation"): exit 0 when clean, 1 when
// violations are found (listed with their ids), 2 on a usage error.
func checkCommand() *command {
	return &command{
		name:     "check",
		synopsis: "(--tenant T --sso S | --all) [--repair] [--json] [--data PATH | --dynamodb-table NAME]",
		summary:  "Verify the store's invariants (guards, memberships, counters) and, with --repair, fix what is deterministic.",
		define: func(fs *flag.FlagSet) runFunc {
			tenant := fs.String("tenant", "", "tenant id of the connection to check")
			sso := fs.String("sso", "", "SSO connection id of the connection to check")
			all := fs.Bool("all", false, "check every connection of the store")
			repair := fs.Bool("repair", false, "apply the deterministic repairs and report what was done")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			var sf storeFlags
			sf.register(fs)
			return func(ctx context.Context, out streams) error {
				return check(ctx, checkOptions{tenant: *tenant, sso: *sso, all: *all, repair: *repair, asJSON: *asJSON}, &sf, out)
			}
		},
	}
}

type checkOptions struct {
	tenant, sso         string
	all, repair, asJSON bool
}

func check(ctx context.Context, o checkOptions, sf *storeFlags, out streams) (err error) {
	stdout, stderr := out.stdout, out.stderr
	conn := scim.Connection{Tenant: o.tenant, SSO: o.sso}
	switch {
	case o.all && (o.tenant != "" || o.sso != ""):
		return usageErrorf("use either --all or --tenant and --sso")
	case !o.all && (o.tenant == "" || o.sso == ""):
		return usageErrorf("name the connection with --tenant and --sso, or use --all")
	case !o.all:
		if err := conn.Validate(); err != nil {
			return usageErrorf("%s", scim.ErrorDetailOf(err))
		}
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	defer st.explain(&err)
	ins, ok := st.resources.(reconcile.Inspector)
	if !ok {
		return fmt.Errorf("the %s cannot be inspected", st.describe)
	}

	report := checkOutput{Connections: []*reconcile.Report{}}
	if st.embedded != nil {
		report.Schema = st.embedded.SchemaIssues()
		for _, issue := range report.Schema {
			report.Violations++
			if issue.Repaired {
				report.Repaired++
			}
			if !o.asJSON {
				printSchemaIssue(stdout, issue)
			}
		}
	}
	record := func(rep *reconcile.Report) error {
		report.Connections = append(report.Connections, rep)
		for _, v := range rep.Violations {
			report.Violations++
			if v.Repaired {
				report.Repaired++
			}
		}
		if !o.asJSON {
			printReport(stdout, rep)
		}
		return nil
	}
	if o.all {
		err = reconcile.CheckAll(ctx, ins, checkPageSize, o.repair, record)
	} else {
		var rep *reconcile.Report
		if rep, err = reconcile.Check(ctx, ins, conn, o.repair); err == nil {
			err = record(rep)
		}
	}
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "checked %d connection(s) in the %s: %d violation(s), %d repaired\n", len(report.Connections), st.describe, report.Violations, report.Repaired)
	// Violations found exit 1 even when repaired: the run found drift, which
	// a scheduled caller must see; the next check is clean.
	if report.Violations > 0 {
		return fmt.Errorf("%d violation(s) found, %d repaired", report.Violations, report.Repaired)
	}
	return nil
}

// printSchemaIssue writes one line per index found missing or altered, in
// the violations' format, with "store" in place of the connection.
func printSchemaIssue(w io.Writer, issue sqlitestore.SchemaIssue) {
	outcome := " [repaired: recreate-index]"
	if !issue.Repaired {
		outcome = fmt.Sprintf(" [repair recreate-index failed: %s]", issue.Error)
	}
	fmt.Fprintf(w, "store\t%s-index\tids=%s\tthe index that enforces uniqueness is %s%s\n", issue.Problem, issue.Index, issue.Problem, outcome)
}

// printReport writes one line per violation: connection, kind, ids, what
// is wrong, and what --repair did.
func printReport(w io.Writer, rep *reconcile.Report) {
	for _, v := range rep.Violations {
		outcome := ""
		switch {
		case v.Repaired:
			outcome = fmt.Sprintf(" [repaired: %s]", v.Repair.Action)
		case v.RepairError != "":
			outcome = fmt.Sprintf(" [repair %s failed: %s]", v.Repair.Action, v.RepairError)
		case v.Repair == nil:
			outcome = " [no deterministic repair]"
		}
		fmt.Fprintf(w, "%s\t%s\tids=%s\t%s%s\n", rep.Conn(), v.Kind, strings.Join(v.IDs, ","), v.Detail, outcome)
	}
}
