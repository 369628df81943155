// Package changestest checks change records against docs/change-record.schema.json,
// the schema docs/events.md publishes, so that every test that sees emitted
// records can hold them to it.
package changestest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/scimgate/scimgate/pkg/changes"
)

// SchemaFile is the schema's path from the module root.
const SchemaFile = "docs/change-record.schema.json"

var (
	once     sync.Once
	compiled *jsonschema.Schema
	loadErr  error
)

// Schema compiles the published schema once per test binary, with format
// assertions on (date-time is checked, not only annotated).
func Schema() (*jsonschema.Schema, error) {
	once.Do(func() {
		path, err := schemaPath()
		if err != nil {
			loadErr = err
			return
		}
		f, err := os.Open(path)
		if err != nil {
			loadErr = err
			return
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			loadErr = fmt.Errorf("parse %s: %w", path, err)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(path, doc); err != nil {
			loadErr = err
			return
		}
		compiled, loadErr = c.Compile(path)
	})
	return compiled, loadErr
}

// schemaPath finds docs/ from the test's working directory (its package
// directory) by walking up to go.mod.
func schemaPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, SchemaFile), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory: cannot find %s", SchemaFile)
		}
		dir = parent
	}
}

// ValidateJSON checks one record's JSON against the schema.
func ValidateJSON(b []byte) error {
	s, err := Schema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("record is not JSON: %w", err)
	}
	return s.Validate(inst)
}

// Validate fails t for every record that its JSON form does not satisfy the schema.
func Validate(t testing.TB, records ...changes.Record) {
	t.Helper()
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			t.Errorf("record %s: %v", r.ID, err)
			continue
		}
		if err := ValidateJSON(b); err != nil {
			t.Errorf("record %s does not match %s: %v\n%s", r.ID, SchemaFile, err, b)
		}
	}
}
