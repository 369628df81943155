package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/scimgate/scimgate/pkg/reconcile"
	"github.com/scimgate/scimgate/pkg/scim"
)

// exitError ends the process with a code of its own: check exits 1 when it
// found violations and 2 on a usage error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit status for err.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// checkPageSize bounds how many connections --all reads at a time.
const checkPageSize = 100

// checkOutput is the --json document.
type checkOutput struct {
	Connections []*reconcile.Report `json:"connections"`
	Violations  int                 `json:"violations"`
	Repaired    int                 `json:"repaired"`
}

// check verifies the store's invariants for one connection or all of them
// (docs/operations.md, "Reconciliation").
func check(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tenant := fs.String("tenant", "", "tenant id of the connection to check")
	sso := fs.String("sso", "", "SSO connection id of the connection to check")
	all := fs.Bool("all", false, "check every connection of the store")
	repair := fs.Bool("repair", false, "apply the deterministic repairs and report what was done")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var sf storeFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return usageError("check takes no arguments; got %q", strings.Join(fs.Args(), " "))
	}
	conn := scim.Connection{Tenant: *tenant, SSO: *sso}
	switch {
	case *all && (*tenant != "" || *sso != ""):
		return usageError("use either --all or --tenant and --sso")
	case !*all && (*tenant == "" || *sso == ""):
		return usageError("name the connection with --tenant and --sso, or use --all")
	case !*all:
		if err := conn.Validate(); err != nil {
			return usageError("%s", scim.ErrorDetailOf(err))
		}
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	ins, ok := st.resources.(reconcile.Inspector)
	if !ok {
		return fmt.Errorf("the %s cannot be inspected", st.describe)
	}

	out := checkOutput{Connections: []*reconcile.Report{}}
	record := func(rep *reconcile.Report) error {
		out.Connections = append(out.Connections, rep)
		for _, v := range rep.Violations {
			out.Violations++
			if v.Repaired {
				out.Repaired++
			}
		}
		if !*asJSON {
			printReport(stdout, rep)
		}
		return nil
	}
	if *all {
		err = reconcile.CheckAll(ctx, ins, checkPageSize, *repair, record)
	} else {
		var rep *reconcile.Report
		if rep, err = reconcile.Check(ctx, ins, conn, *repair); err == nil {
			err = record(rep)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "checked %d connection(s) in the %s: %d violation(s), %d repaired\n", len(out.Connections), st.describe, out.Violations, out.Repaired)
	if out.Violations > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d violation(s) found", out.Violations)}
	}
	return nil
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
