package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/scimgate/scimgate/pkg/admin"
	"github.com/scimgate/scimgate/pkg/scim"
)

// connectionSchemaSetCommand: `scimgate connection schema set`
// (docs/custom-attributes.md).
func connectionSchemaSetCommand() *command {
	return &command{
		name:     "connection schema set",
		synopsis: "--tenant T --sso S [--file FILE] [--from-observed] [--unknown-extensions store|reject|ignore] [--json] " + storeSynopsis,
		summary: "Set a connection's declared extension schemas (FILE: a JSON array of RFC 7643 Schema resources, or one)\n" +
			"and/or its policy for undeclared extensions: store (keep and return them, the default), reject (400)\n" +
			"or ignore (drop them). --unknown-extensions alone changes only the policy.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			file := fs.String("file", "", "JSON file of the schemas to declare; replaces the declared set")
			fromObserved := fs.Bool("from-observed", false, "declare what the connection has been observed to send")
			policy := fs.String("unknown-extensions", "", "store, reject or ignore: what to do with an undeclared extension")
			return func(ctx context.Context, out streams) error {
				var u admin.SchemaUpdate
				if *policy != "" {
					if _, err := scim.ParseExtensionPolicy(*policy); err != nil {
						return usageErrorf("--unknown-extensions: %s", scim.ErrorDetailOf(err))
					}
					u.UnknownExtensions = policy
				}
				if *file != "" {
					declared, err := readSchemaFile(*file)
					if err != nil {
						return err
					}
					u.Declared = &declared
				}
				// --from-observed declares what the connection sent
				// (`connection schema show`), merged with --file, whose
				// schemas win per id.
				u.FromObserved = *fromObserved
				if u.Declared == nil && u.UnknownExtensions == nil && !u.FromObserved {
					return usageErrorf("give --file, --from-observed or --unknown-extensions")
				}
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					settings, err := svc.SetSchemas(ctx, conn, u)
					if err != nil {
						return fmt.Errorf("set schemas of connection %s: %w", conn, err)
					}
					for _, note := range settings.Notes {
						fmt.Fprintf(out.stderr, "scimgate: --from-observed: %s\n", note)
					}
					if af.json {
						return printJSON(out.stdout, settings)
					}
					fmt.Fprintf(out.stdout, "connection %s: unknown_extensions %s, %d declared schemas\n", conn, settings.UnknownExtensions, len(settings.Declared))
					return nil
				})
			}
		},
	}
}

// readSchemaFile reads FILE: a JSON array of Schema resources, or one.
func readSchemaFile(path string) ([]json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		return []json.RawMessage{b}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, usageErrorf("--file %s: not a JSON array of Schema resources nor one Schema: %v", path, err)
	}
	return list, nil
}

// connectionSchemaShowCommand: `scimgate connection schema show`.
func connectionSchemaShowCommand() *command {
	return &command{
		name:     "connection schema show",
		synopsis: "--tenant T --sso S [--json] " + storeSynopsis,
		summary:  "Show a connection's declared extension schemas, what it was observed to send, and its unknown_extensions policy.",
		define: func(fs *flag.FlagSet) runFunc {
			var cf connFlags
			var af adminFlags
			cf.register(fs)
			af.register(fs, true)
			return func(ctx context.Context, out streams) error {
				return af.onConnection(ctx, &cf, func(conn scim.Connection, svc *admin.Service) error {
					settings, err := svc.ShowSchemas(ctx, conn)
					if err != nil {
						return fmt.Errorf("show schemas of connection %s: %w", conn, err)
					}
					if af.json {
						return printJSON(out.stdout, settings)
					}
					if err := printTable(out.stdout, []string{"FIELD", "VALUE"}, [][]string{
						{"connection", conn.String()},
						{"unknown_extensions", settings.UnknownExtensions},
						{"declared schemas", fmt.Sprint(len(settings.Declared))},
						{"observed attributes", fmt.Sprint(len(settings.Observed))},
					}); err != nil {
						return err
					}
					if err := printDeclared(out.stdout, settings.Declared); err != nil {
						return err
					}
					return printObserved(out, settings.Observed)
				})
			}
		},
	}
}

// declaredSummary is what the tables show of a declared Schema resource.
type declaredSummary struct {
	ID           string `json:"id"`
	ResourceType string `json:"x-resourceType"`
	Attributes   []struct {
		Name          string `json:"name"`
		SubAttributes []struct {
			Name string `json:"name"`
		} `json:"subAttributes"`
	} `json:"attributes"`
}

// printDeclared prints declared Schema resources as a table: schema,
// resource type, attributes (a complex one with its sub-attributes in
// parentheses). Nothing when none is declared.
func printDeclared(w io.Writer, declared []json.RawMessage) error {
	if len(declared) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(declared))
	for _, raw := range declared {
		var s declaredSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("read a declared schema: %w", err)
		}
		names := make([]string, 0, len(s.Attributes))
		for _, a := range s.Attributes {
			name := a.Name
			if len(a.SubAttributes) > 0 {
				subs := make([]string, 0, len(a.SubAttributes))
				for _, sub := range a.SubAttributes {
					subs = append(subs, sub.Name)
				}
				name += "(" + strings.Join(subs, ", ") + ")"
			}
			names = append(names, name)
		}
		if s.ResourceType == "" {
			s.ResourceType = string(scim.UserResource)
		}
		rows = append(rows, []string{s.ID, s.ResourceType, strings.Join(names, ", ")})
	}
	fmt.Fprintln(w)
	return printTable(w, []string{"SCHEMA", "RESOURCE TYPE", "ATTRIBUTES"}, rows)
}

// printObserved prints the observed schema as a table, after a blank line;
// nothing when nothing was observed.
func printObserved(out streams, seen []admin.Observed) error {
	if len(seen) == 0 {
		return nil
	}
	rows := make([][]string, len(seen))
	for i, o := range seen {
		rows[i] = []string{o.ResourceType, printableCell(o.URN), printableCell(o.Attribute), o.JSONType, fmt.Sprint(o.Count), o.FirstSeen, o.LastSeen}
	}
	fmt.Fprintln(out.stdout)
	return printTable(out.stdout, []string{"TYPE", "URN", "ATTRIBUTE", "JSON_TYPE", "COUNT", "FIRST_SEEN", "LAST_SEEN"}, rows)
}

// printableCell keeps a name an IdP sent fit for a terminal: one with a
// control or other non-printable character is shown Go-quoted, so it can
// neither break the table nor carry a terminal escape.
func printableCell(v string) string {
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return strconv.QuoteToASCII(v)
		}
	}
	return v
}
