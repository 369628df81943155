package scim

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
)

// Unique names are compared, and keyed in both stores, by PRECIS profiles
// rather than strings.ToLower, so that names a person reads as one are one:
// a fullwidth "ａｄａ@x.com" is "ada@x.com", a Kelvin sign K is k, and a
// userName with a zero-width space or a trailing space is refused instead of
// becoming a second account.
//
//   - userName: RFC 8265's UsernameCaseMapped profile (width-mapped,
//     lowercased, NFC, Bidi Rule; control, format, space and symbol
//     characters refused), applied as §3.1 allows to each userpart of a name
//     whose userparts are separated by single spaces ("Ada Lovelace").
//     Case mapping is Unicode's toLowerCase, not case folding: "ß" stays
//     distinct from "ss", the Turkish "İ" is "i̇" (i with a combining dot),
//     not "i", and the dotless "ı" is not "i".
//   - a group's displayName: RFC 8266's Nickname profile (spaces mapped,
//     trimmed and collapsed, case-insensitive, NFKC): display names are free
//     text with spaces and symbols ("R&D ✓ Team"), which the username
//     profile would refuse; Nickname still refuses control and format
//     characters and makes "Sales  Team " and "sales team" one name.
//
// The name itself is stored and returned as the client sent it.

// NameKey is the form under which a resource's Name is unique in its
// connection and type: the PRECIS comparison key above. A name the profile
// refuses (only ever stored before the profile was enforced, or given in a
// lookup) keys by strings.ToLower, as all names did before; such a key keeps
// the refused character or spacing, so it never equals a key of a name the
// profile accepts.
func NameKey(typ ResourceType, name string) string {
	key, err := nameKey(typ, name)
	if err != nil {
		return strings.ToLower(name)
	}
	return key
}

var errEmptyUserpart = errors.New("empty userpart")

func nameKey(typ ResourceType, name string) (string, error) {
	if typ == GroupResource {
		return precis.Nickname.CompareKey(name)
	}
	parts := strings.Split(name, " ")
	for i, part := range parts {
		if part == "" {
			// A leading, trailing or doubled space: RFC 8265 §3.1 separates
			// userparts by exactly one space, and no userpart is empty.
			return "", errEmptyUserpart
		}
		key, err := precis.UsernameCaseMapped.CompareKey(part)
		if err != nil {
			return "", err
		}
		parts[i] = key
	}
	return strings.Join(parts, " "), nil
}

// checkName refuses a name the profile does not accept, with a detail that
// says why. prev is the stored resource of an update (nil for a create): a
// name stored before the profile was enforced is kept as long as a request
// leaves it unchanged, so that such a user can still be deactivated.
func checkName(typ ResourceType, prev *Resource, name string) error {
	if prev != nil && prev.Name == name {
		return nil
	}
	if _, err := nameKey(typ, name); err == nil {
		return nil
	}
	attr := UniqueAttrName(typ)
	profile, rfc := "UsernameCaseMapped", "RFC 8265"
	if typ == GroupResource {
		profile, rfc = "Nickname", "RFC 8266"
	} else if strings.HasPrefix(name, " ") || strings.HasSuffix(name, " ") || strings.Contains(name, "  ") {
		return Errorf(EInvalidValue, "%s must not begin or end with a space or hold two spaces in a row (RFC 8265 §3.1); remove them", attr)
	}
	p := precis.UsernameCaseMapped
	if typ == GroupResource {
		p = precis.Nickname
	}
	pos := 0
	for _, r := range name {
		pos++
		if r == ' ' || typ == GroupResource && unicode.Is(unicode.Zs, r) {
			continue // spacing is judged above; Nickname maps and collapses it
		}
		if _, err := p.CompareKey(string(r)); err != nil && r != utf8.RuneError {
			return Errorf(EInvalidValue, "%s holds U+%04X at character %d, which the PRECIS %s profile (%s) does not allow: control, format (such as zero-width), unassigned%s characters are refused; remove it", attr, r, pos, profile, rfc, map[bool]string{true: ", space and symbol", false: ""}[typ == UserResource])
		}
	}
	return Errorf(EInvalidValue, "%s is not accepted by the PRECIS %s profile (%s): it is empty, or mixes right-to-left and left-to-right text, or places a joiner where the profile forbids it", attr, profile, rfc)
}
