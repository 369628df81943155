package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// decodeJSON parses a request body into generic JSON values (objects as
// map[string]any, exact numbers as json.Number) and refuses what would
// give the same bytes more than one meaning:
//
//   - invalid UTF-8, which encoding/json would silently replace with U+FFFD,
//     so that two different byte sequences became one userName (RFC 8259
//     §8.1 requires UTF-8);
//   - an object holding two keys that SCIM's case-insensitive attribute names
//     (RFC 7643 §2.1) make one, at any depth: a map keeps only one of them,
//     and which one would depend on nothing the client controls.
//
// encoding/json parses and validates; one more pass over the bytes finds
// duplicate keys without allocating for the common small object
// (BenchmarkDecodeJSON measures both).
func decodeJSON(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, Errorf(EInvalidSyntax, "request body is not valid UTF-8 (first bad byte at offset %d); send JSON encoded as UTF-8 (RFC 8259 §8.1)", firstInvalidUTF8(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(EInvalidSyntax, "request body has data after the JSON value")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return nil, err
	}
	return v, nil
}

// CheckJSON applies decodeJSON's rules to a body that an adapter decodes
// itself (a SearchRequest, a BulkRequest): valid UTF-8, valid JSON, no
// object with two keys equal case-insensitively.
func CheckJSON(body []byte) error {
	_, err := decodeJSON(body)
	return err
}

// decodeObject parses a request body that must be a JSON object.
func decodeObject(body []byte) (map[string]any, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, Errorf(EInvalidSyntax, "request body must be a JSON object")
	}
	return obj, nil
}

// smallObject is the size up to which keys are compared pairwise: nearly
// every SCIM object is smaller, and comparing beats building a map.
const smallObject = 16

// sameKey reports the key already in obj that equals key under the
// case-insensitive matching the schema lookups use (strings.EqualFold).
func sameKey(obj map[string]any, folded *map[string]string, key string) (string, bool) {
	if len(obj) < smallObject {
		for k := range obj {
			if strings.EqualFold(k, key) {
				return k, true
			}
		}
		return "", false
	}
	if *folded == nil {
		*folded = make(map[string]string, 2*len(obj))
		for k := range obj {
			(*folded)[foldKey(k)] = k
		}
	}
	f := foldKey(key)
	if prev, ok := (*folded)[f]; ok {
		return prev, true
	}
	(*folded)[f] = key
	return "", false
}

// foldKey maps s to one representative of its strings.EqualFold class: each
// rune becomes the smallest rune of its simple case-folding orbit.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			smallest = min(smallest, f)
		}
		b.WriteRune(smallest)
	}
	return b.String()
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) {
		return Errorf(EInvalidSyntax, "request body is not valid JSON: it ends too early")
	}
	return Errorf(EInvalidSyntax, "request body is not valid JSON: %v", err)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// checkDuplicateKeys scans body, which encoding/json has already accepted
// as one valid JSON value, for an object with two keys equal under
// strings.EqualFold.
func checkDuplicateKeys(body []byte) error {
	s := &keyScanner{b: body}
	return s.value()
}

// keyScanner walks valid JSON. path holds the keys and indexes leading to
// the current value, for the error message only.
type keyScanner struct {
	b    []byte
	i    int
	path []pathElem
	keys [][]byte // keys of the objects being scanned, innermost last
}

// pathElem is an object key (a string literal) or, when key is nil, an array index.
type pathElem struct {
	key   []byte
	index int
}

func (s *keyScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *keyScanner) value() error {
	s.skipSpace()
	switch s.b[s.i] {
	case '{':
		return s.object()
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpace()
			if s.b[s.i] == ']' {
				s.i++
				return nil
			}
			if s.b[s.i] == ',' {
				s.i++
			}
			s.path = append(s.path, pathElem{index: n})
			if err := s.value(); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
		}
	case '"':
		s.str()
		return nil
	}
	for s.i < len(s.b) && !endsScalar[s.b[s.i]] {
		s.i++ // a number, true, false or null
	}
	return nil
}

// endsScalar marks the bytes that can follow a number, true, false or null.
var endsScalar = [256]bool{',': true, ']': true, '}': true, ' ': true, '\t': true, '\n': true, '\r': true}

func (s *keyScanner) object() error {
	s.i++
	base := len(s.keys)
	defer func() { s.keys = s.keys[:base] }()
	var folded map[string]bool // for large objects only
	for {
		s.skipSpace()
		switch s.b[s.i] {
		case '}':
			s.i++
			return nil
		case ',':
			s.i++
			s.skipSpace()
		}
		key := s.str()
		if prev, dup := s.seen(key, base, &folded); dup {
			return s.duplicate(prev, key)
		}
		s.keys = append(s.keys, key)
		s.skipSpace()
		s.i++ // the colon
		s.path = append(s.path, pathElem{key: key})
		if err := s.value(); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
	}
}

// str consumes a string literal and returns it with its quotes.
func (s *keyScanner) str() []byte {
	start := s.i
	s.i++
	for {
		end := bytes.IndexByte(s.b[s.i:], '"') + s.i
		backslashes := 0
		for k := end - 1; k > start && s.b[k] == '\\'; k-- {
			backslashes++
		}
		s.i = end + 1
		if backslashes%2 == 0 {
			return s.b[start:s.i]
		}
	}
}

// seen compares key with the keys of the current object (from base on).
func (s *keyScanner) seen(key []byte, base int, folded *map[string]bool) ([]byte, bool) {
	siblings := s.keys[base:]
	if len(siblings) < smallObject && !bytes.ContainsRune(key, '\\') {
		for _, k := range siblings {
			if bytes.EqualFold(k, key) || bytes.ContainsRune(k, '\\') && strings.EqualFold(unquoteKey(k), unquoteKey(key)) {
				return k, true
			}
		}
		return nil, false
	}
	if *folded == nil {
		*folded = make(map[string]bool, 2*len(siblings))
		for _, k := range siblings {
			(*folded)[foldKey(unquoteKey(k))] = true
		}
	}
	f := foldKey(unquoteKey(key))
	if (*folded)[f] {
		for _, k := range siblings {
			if foldKey(unquoteKey(k)) == f {
				return k, true
			}
		}
	}
	(*folded)[f] = true
	return nil, false
}

func (s *keyScanner) duplicate(prev, key []byte) error {
	where := "the top level of the request body"
	if len(s.path) > 0 {
		var b strings.Builder
		for i, e := range s.path {
			switch {
			case e.key == nil:
				fmt.Fprintf(&b, "[%d]", e.index)
			case i > 0:
				b.WriteString("." + unquoteKey(e.key))
			default:
				b.WriteString(unquoteKey(e.key))
			}
		}
		where = strconv.Quote(b.String())
	}
	return Errorf(EInvalidSyntax, "the JSON object at %s has both the keys %q and %q, which SCIM attribute names make one (they are case-insensitive, RFC 7643 §2.1); send each attribute once", where, unquoteKey(prev), unquoteKey(key))
}

// unquoteKey decodes a string literal (quotes included) that encoding/json
// has already accepted.
func unquoteKey(lit []byte) string {
	if !bytes.ContainsRune(lit, '\\') {
		return string(lit[1 : len(lit)-1])
	}
	var out string
	_ = json.Unmarshal(lit, &out)
	return out
}
