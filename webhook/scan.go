package webhook

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// scanner decodes a delivery in one pass: it validates the whole document as
// encoding/json does (RFC 8259: json.Unmarshal refuses a payload with a syntax
// error anywhere, so does the scanner) and hands the event's decoder only the
// members Panda routes on, skipping the rest without building anything.
// encoding/json.Unmarshal scanned each payload twice (checkValid, then the
// decode) and reflected over every member; on a recorded 8.5 KB push that was
// a third of the intake's CPU.
//
// Where it differs from encoding/json it is stricter, on purpose:
//   - member names match exactly ("ref", not "REF"): GitHub's payloads use the
//     names of its documentation, and encoding/json's case-insensitive match
//     would let a second spelling of a member override the first;
//   - the document must be an object: json.Unmarshal takes a bare null as
//     "nothing to decode", but no GitHub event is null.
//
// Values are decoded with encoding/json's own rules: a string with escapes or
// invalid UTF-8 is unquoted by encoding/json itself (same replacement of bad
// bytes by U+FFFD), integers by strconv.ParseInt as encoding/json does, null
// leaves a value as it was and sets a pointer to nil.
type scanner struct {
	data []byte
	pos  int
}

// maxDepth is encoding/json's nesting limit (maxNestingDepth in
// encoding/json/scanner.go): deeper documents are refused, not recursed into.
const maxDepth = 10000

var errDepth = errors.New("exceeded max depth")

// decodeObject decodes data with decode, which reads the members of the
// top-level object, and checks that nothing but white space follows it.
func decodeObject(data []byte, decode func(*scanner) error) error {
	s := &scanner{data: data}
	s.ws()
	if s.peek() != '{' {
		return s.fail("a JSON object")
	}
	if err := decode(s); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.data) {
		return s.fail("end of input after the top-level value")
	}
	return nil
}

func (s *scanner) fail(want string) error {
	if s.pos >= len(s.data) {
		return fmt.Errorf("unexpected end of JSON input, want %s", want)
	}
	return fmt.Errorf("invalid character %q at offset %d, want %s", s.data[s.pos], s.pos, want)
}

// ws skips JSON white space: space, tab, line feed, carriage return.
func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// null consumes a null literal if one comes next.
func (s *scanner) null() bool {
	s.ws()
	if len(s.data)-s.pos >= 4 && string(s.data[s.pos:s.pos+4]) == "null" {
		s.pos += 4
		return true
	}
	return false
}

// object reads an object (or null, which reads nothing), calling member with
// each member's name; member must consume the member's value.
func (s *scanner) object(member func(name []byte) error) error {
	if s.null() {
		return nil
	}
	if s.peek() != '{' {
		return s.fail("an object")
	}
	s.pos++
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		name, err := s.name()
		if err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("',' or '}' after an object member")
		}
	}
}

// array reads an array (or null, which reads nothing), calling elem for each
// element; elem must consume it. It reports whether the value was null.
func (s *scanner) array(elem func() error) (null bool, err error) {
	if s.null() {
		return true, nil
	}
	if s.peek() != '[' {
		return false, s.fail("an array")
	}
	s.pos++
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return false, nil
	}
	for {
		if err := elem(); err != nil {
			return false, err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return false, nil
		default:
			return false, s.fail("',' or ']' after an array element")
		}
	}
}

// name reads a member name and the colon after it.
func (s *scanner) name() ([]byte, error) {
	s.ws()
	raw, plain, err := s.stringToken()
	if err != nil {
		return nil, err
	}
	s.ws()
	if s.peek() != ':' {
		return nil, s.fail("':' after an object key")
	}
	s.pos++
	if plain {
		return raw[1 : len(raw)-1], nil
	}
	u, err := unquote(raw)
	return []byte(u), err
}

// str decodes a string into *v; null leaves *v as it was.
func (s *scanner) str(v *string) error {
	if s.null() {
		return nil
	}
	if s.peek() != '"' {
		return s.fail("a string")
	}
	raw, plain, err := s.stringToken()
	if err != nil {
		return err
	}
	if plain {
		*v = string(raw[1 : len(raw)-1])
		return nil
	}
	*v, err = unquote(raw)
	return err
}

// unquote decodes a string token with escapes or bytes that are not UTF-8 the
// way encoding/json does, by asking it: such strings are rare (a commit
// message with line breaks), and one rule for them beats a second copy of it.
func unquote(raw []byte) (string, error) {
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	return v, nil
}

// int64 decodes an integer into *v; null leaves *v as it was. Like
// encoding/json, a fraction or an exponent is an error for an integer.
func (s *scanner) int64(v *int64) error {
	if s.null() {
		return nil
	}
	lit, err := s.numberToken()
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return fmt.Errorf("number %s is not an int64: %w", lit, err)
	}
	*v = n
	return nil
}

// int decodes an integer into *v, as int64 does.
func (s *scanner) int(v *int) error {
	n := int64(*v)
	if err := s.int64(&n); err != nil {
		return err
	}
	if int64(int(n)) != n {
		return fmt.Errorf("number %d overflows int", n)
	}
	*v = int(n)
	return nil
}

// boolean decodes true or false into *v; null leaves *v as it was.
func (s *scanner) boolean(v *bool) error {
	if s.null() {
		return nil
	}
	switch {
	case s.literal("true"):
		*v = true
	case s.literal("false"):
		*v = false
	default:
		return s.fail("a boolean")
	}
	return nil
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// stringToken reads a string token, quotes included, validating its escapes.
// plain reports that it has no escape and is valid UTF-8, so its bytes
// between the quotes are its value.
func (s *scanner) stringToken() (raw []byte, plain bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.fail("a string")
	}
	start := s.pos
	s.pos++
	escaped, ascii := false, true
	for s.pos < len(s.data) {
		for s.pos+8 <= len(s.data) && plain8(binary.LittleEndian.Uint64(s.data[s.pos:])) {
			s.pos += 8
		}
		if s.pos >= len(s.data) {
			break
		}
		c := s.data[s.pos]
		if plainByte[c] {
			s.pos++
			continue
		}
		switch {
		case c == '"':
			s.pos++
			raw = s.data[start:s.pos]
			return raw, !escaped && (ascii || utf8.Valid(raw)), nil
		case c == '\\':
			escaped = true
			if err := s.escape(); err != nil {
				return nil, false, err
			}
			continue
		case c < 0x20:
			return nil, false, s.fail("no control character in a string")
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.pos++
	}
	return nil, false, s.fail("the end of a string")
}

// plainByte marks the bytes that stand for themselves in a string: not the
// quote, the backslash, a control character or a byte of a multi-byte
// sequence. One table look-up per byte keeps the common case a short loop.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plain8 reports whether all eight bytes of x stand for themselves in a
// string (plainByte), eight at a time: a byte equal to the quote or the
// backslash, below 0x20 or from 0x80 shows up in the high bit of its lane
// (the "has zero byte" and "has less than" tests of Bit Twiddling Hacks,
// which report whether such a byte exists without false positives).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	quote, backslash := hasZero(x^(ones*'"')), hasZero(x^(ones*'\\'))
	control := (x - ones*0x20) &^ x & highs
	return quote|backslash|control|x&highs == 0
}

// escape checks one escape sequence, at the backslash, and steps over it.
func (s *scanner) escape() error {
	s.pos++
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return nil
	case 'u':
		s.pos++
		for range 4 {
			if !isHex(s.peek()) {
				return s.fail("a hexadecimal digit in a \\u escape")
			}
			s.pos++
		}
		return nil
	}
	return s.fail("an escape character")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// numberToken reads a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) numberToken() ([]byte, error) {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return nil, s.fail("a number")
	}
	if s.peek() == '.' {
		s.pos++
		if !isDigit(s.peek()) {
			return nil, s.fail("a digit after the decimal point")
		}
		s.digits()
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !isDigit(s.peek()) {
			return nil, s.fail("a digit in the exponent")
		}
		s.digits()
	}
	return s.data[start:s.pos], nil
}

func (s *scanner) digits() {
	for isDigit(s.peek()) {
		s.pos++
	}
}

// skip validates and steps over one value of any kind. It keeps its own stack
// instead of recursing, so a deeply nested payload costs a byte per level,
// not a stack frame.
func (s *scanner) skip() error {
	var buf [64]byte
	open := buf[:0] // '{' or '[' per open container
	for {
		opened, err := s.skipOpen(len(open))
		if err != nil {
			return err
		}
		if opened != 0 {
			open = append(open, opened)
			continue // a container was opened: its first value comes next
		}
		// A value ended: close containers until one has another value.
		for {
			if len(open) == 0 {
				return nil
			}
			s.ws()
			top, c := open[len(open)-1], s.peek()
			if c == ',' {
				s.pos++
				if top == '{' {
					if _, err := s.name(); err != nil {
						return err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				s.pos++
				open = open[:len(open)-1]
				continue
			}
			return s.fail("',' or the end of a container")
		}
	}
}

// skipOpen reads the start of a value, depth containers deep. When the value
// is complete (a scalar, or an empty container) it returns 0; otherwise it
// returns the container it opened, '{' or '[', having read an object's first
// member name.
func (s *scanner) skipOpen(depth int) (opened byte, err error) {
	s.ws()
	switch c := s.peek(); c {
	case '{', '[':
		if depth >= maxDepth {
			return 0, errDepth
		}
		s.pos++
		s.ws()
		if end := c + 2; s.peek() == end { // '{'+2 == '}', '['+2 == ']'
			s.pos++
			return 0, nil
		}
		if c == '{' {
			if _, err := s.name(); err != nil {
				return 0, err
			}
		}
		return c, nil
	case '"':
		_, _, err := s.stringToken()
		return 0, err
	case 't':
		return 0, s.want("true")
	case 'f':
		return 0, s.want("false")
	case 'n':
		return 0, s.want("null")
	}
	_, err = s.numberToken()
	return 0, err
}

func (s *scanner) want(word string) error {
	if !s.literal(word) {
		return s.fail(word)
	}
	return nil
}
