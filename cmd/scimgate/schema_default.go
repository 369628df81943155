package main

import (
	"context"
	"flag"
	"fmt"
)

// schemaDefaultCommands: `scimgate schema default set|show`, the
// platform's default declaration (docs/custom-attributes.md, "The
// platform's default set").
func schemaDefaultCommands() []*command {
	return []*command{schemaDefaultSetCommand(), schemaDefaultShowCommand()}
}

func schemaDefaultSetCommand() *command {
	return &command{
		name:     "schema default set",
		synopsis: "--file FILE [--json] " + storeSynopsis,
		summary: "Set the platform's default extension schemas, declared beneath every connection's own, new and existing\n" +
			"(FILE: a JSON array of RFC 7643 Schema resources, or one; \"x-resourceType\": \"User\" or \"Group\", User when absent;\n" +
			"[] clears it). A connection's own schema with the same id replaces the default one. SCIM requests apply the\n" +
			"change within a minute.",
		define: func(fs *flag.FlagSet) runFunc {
			var af adminFlags
			af.register(fs, true)
			file := fs.String("file", "", "JSON file of the schemas to declare for every connection; replaces the default set")
			return func(ctx context.Context, out streams) (err error) {
				if *file == "" {
					return usageErrorf("give --file")
				}
				declared, err := readSchemaFile(*file)
				if err != nil {
					return err
				}
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				settings, err := svc.SetDefaultSchemas(ctx, declared)
				if err != nil {
					return fmt.Errorf("set default schemas: %w", err)
				}
				if af.json {
					return printJSON(out.stdout, settings)
				}
				fmt.Fprintf(out.stdout, "default schemas: %d declared for every connection\n", len(settings.Declared))
				return nil
			}
		},
	}
}

func schemaDefaultShowCommand() *command {
	return &command{
		name:     "schema default show",
		synopsis: "[--json] " + storeSynopsis,
		summary:  "Show the platform's default extension schemas, which every connection has beneath its own.",
		define: func(fs *flag.FlagSet) runFunc {
			var af adminFlags
			af.register(fs, true)
			return func(ctx context.Context, out streams) (err error) {
				svc, st, err := af.service(ctx)
				if err != nil {
					return err
				}
				defer st.close()
				defer st.explain(&err)
				settings, err := svc.ShowDefaultSchemas(ctx)
				if err != nil {
					return fmt.Errorf("show default schemas: %w", err)
				}
				if af.json {
					return printJSON(out.stdout, settings)
				}
				if len(settings.Declared) == 0 {
					fmt.Fprintln(out.stdout, "no default schemas: connections have only their own")
					return nil
				}
				fmt.Fprintf(out.stdout, "default schemas: %d declared for every connection\n", len(settings.Declared))
				return printDeclared(out.stdout, settings.Declared)
			}
		},
	}
}
