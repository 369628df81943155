package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// streams are where a command writes: results on stdout (what scripts read),
// messages for a person on stderr.
type streams struct {
	stdout, stderr io.Writer
}

// runFunc runs a command once its flags are parsed.
type runFunc func(ctx context.Context, out streams) error

// command is one command or subcommand of the CLI.
type command struct {
	name     string // "token create"
	synopsis string // the flags after the name, as in the usage line
	summary  string
	// define registers the command's flags on fs and returns what runs
	// with their values.
	define func(fs *flag.FlagSet) runFunc
}

// group is a command with subcommands ("connection", "token", "table").
type group struct {
	name    string
	summary string
	subs    []*command
}

// commands is the whole CLI, in the order the usage lists it.
func commands() ([]*command, []*group) {
	top := []*command{serveCommand(), checkCommand(), auditCommand(), reconcileCommand(), versionCommand()}
	groups := []*group{
		{name: "connection", summary: "create, list, show, disable, enable, delete and purge SSO connections", subs: connectionCommands()},
		{name: "token", summary: "create, list, rotate and revoke a connection's bearer tokens", subs: tokenCommands()},
		{name: "table", summary: "create or migrate the DynamoDB table", subs: []*command{tableCreateCommand(), tableMigrateCommand()}},
		{name: "events", summary: "list and follow a connection's change records", subs: eventsCommands()},
		{name: "connection schema", summary: "set or show a connection's custom-attribute schemas and the policy for undeclared extensions",
			subs: []*command{connectionSchemaSetCommand(), connectionSchemaShowCommand()}},
		{name: "schema default", summary: "set or show the platform's default extension schemas, declared for every connection", subs: schemaDefaultCommands()},
		{name: "connection idp", summary: "set, show or clear a connection's link to its IdP's API, for reconcile", subs: idpCommands()},
		{name: "webhook", summary: "manage webhook endpoints: create, list, show, update, delete, rotate-secret, replay, deliveries", subs: webhookCommands()},
	}
	return top, groups
}

const environmentHelp = `Environment: SCIMGATE_ADDR, SCIMGATE_DATA, SCIMGATE_DYNAMODB_TABLE, SCIMGATE_PUBLIC_URL,
SCIMGATE_ADMIN_TOKEN, SCIMGATE_REQUEST_TIMEOUT, SCIMGATE_RATE_LIMIT, SCIMGATE_RATE_BURST,
SCIMGATE_METRICS_ADDR, SCIMGATE_LOG_LEVEL, and the AWS SDK's standard
variables (AWS_REGION, AWS_PROFILE, credentials, AWS_ENDPOINT_URL_DYNAMODB).
`

// mainUsage lists every command.
func mainUsage() string {
	top, groups := commands()
	var b strings.Builder
	b.WriteString("scimgate: SCIM 2.0 provisioning endpoint\n\nUsage:\n")
	for _, c := range top {
		fmt.Fprintln(&b, strings.TrimSpace("  scimgate "+c.name+" "+c.synopsis))
	}
	for _, g := range groups {
		for _, c := range g.subs {
			fmt.Fprintf(&b, "  scimgate %s %s\n", c.name, c.synopsis)
		}
	}
	b.WriteString("\n`scimgate COMMAND --help` describes a command and its flags.\n\n")
	b.WriteString(environmentHelp)
	return b.String()
}

func (g *group) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scimgate %s: %s\n\nUsage:\n", g.name, g.summary)
	for _, c := range g.subs {
		fmt.Fprintf(&b, "  scimgate %s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintf(&b, "\n`scimgate %s SUBCOMMAND --help` describes a subcommand and its flags.\n", g.name)
	return b.String()
}

// usage is the command's help text: synopsis, summary and flags.
func (c *command) usage() string {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.define(fs)
	var flags bytes.Buffer
	fs.VisitAll(func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		fmt.Fprintf(&flags, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&flags, " %s", typ)
		}
		fmt.Fprintf(&flags, "\n      %s", help)
		if f.DefValue != "" && f.DefValue != "false" && !strings.Contains(help, "(default") {
			fmt.Fprintf(&flags, " (default %s)", f.DefValue)
		}
		flags.WriteString("\n")
	})
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n%s\n", strings.TrimSpace("scimgate "+c.name+" "+c.synopsis), c.summary)
	if flags.Len() > 0 {
		b.WriteString("\nFlags:\n")
		b.Write(flags.Bytes())
	}
	return b.String()
}

// usageError is a mistake in the command line: it is printed with the
// usage it broke, and the process exits 2.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// usageErrorf reports a usage mistake; run fills in the usage of the command.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func asUsageError(err error) (*usageError, bool) {
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.usage == "" {
			ue.usage = mainUsage()
		}
		return ue, true
	}
	return nil, false
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// run finds the command that args name and runs it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	out := streams{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		return &usageError{msg: "missing command", usage: mainUsage()}
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, mainUsage())
		return nil
	}
	top, groups := commands()
	for _, c := range top {
		if c.name == args[0] {
			return c.run(ctx, args[1:], out)
		}
	}
	for _, g := range groups {
		if len(args) > 1 && g.name == args[0]+" "+args[1] {
			args = append([]string{g.name}, args[2:]...) // a group within a group: "connection idp", "connection schema"
			break
		}
	}
	for _, g := range groups {
		if g.name != args[0] {
			continue
		}
		if len(args) == 1 {
			return &usageError{msg: fmt.Sprintf("%q needs a subcommand", g.name), usage: g.usage()}
		}
		if isHelp(args[1]) {
			fmt.Fprint(stdout, g.usage())
			return nil
		}
		for _, c := range g.subs {
			if c.name == g.name+" "+args[1] {
				return c.run(ctx, args[2:], out)
			}
		}
		return &usageError{msg: fmt.Sprintf("unknown command %q", g.name+" "+args[1]), usage: g.usage()}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", args[0]), usage: mainUsage()}
}

// run parses the command's flags and runs it. --help prints the usage on
// stdout and succeeds; a flag the command does not know, a bad value or a
// stray argument is a usage error.
func (c *command) run(ctx context.Context, args []string, out streams) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	runner := c.define(fs)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(out.stdout, c.usage())
		return nil
	}
	if err != nil {
		return &usageError{msg: err.Error(), usage: c.usage()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q (flags start with --)", fs.Arg(0)), usage: c.usage()}
	}
	err = runner(ctx, out)
	if ue, ok := err.(*usageError); ok && ue.usage == "" {
		ue.usage = c.usage()
	}
	return err
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
