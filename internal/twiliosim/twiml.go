package twiliosim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is one TwiML element. Text is the character data of the element and
// all its descendants in document order, so a <Say> with SSML children
// (<say-as>, <break>) reads as the caller hears it.
type node struct {
	Name     string
	Attrs    map[string]string
	Children []*node
	Text     string
}

// attr returns the attribute value and whether it was present at all:
// Twilio tells finishOnKey="" apart from a missing finishOnKey.
func (n *node) attr(name string) (string, bool) {
	v, ok := n.Attrs[name]
	return v, ok
}

// errNotTwiML reports a response body that is not a TwiML document; Twilio
// reports it as error 12100 and the caller hears "an application error".
var errNotTwiML = errors.New("twiliosim: not a TwiML document")

// parseTwiML parses a TwiML document with encoding/xml. Element and
// attribute names are kept exactly as written: TwiML is case-sensitive, so
// <say> is an unknown verb, not a <Say>.
func parseTwiML(body []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	var (
		root  *node
		stack []*node
		texts []*strings.Builder
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNotTwiML, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, fmt.Errorf("%w: content after the root element", errNotTwiML)
			}
			n := &node{Name: qualified(t.Name), Attrs: make(map[string]string, len(t.Attr))}
			for _, a := range t.Attr {
				n.Attrs[qualified(a.Name)] = a.Value
			}
			if len(stack) == 0 {
				root = n
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, n)
			}
			stack = append(stack, n)
			texts = append(texts, &strings.Builder{})
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.Text = texts[len(texts)-1].String()
			stack, texts = stack[:len(stack)-1], texts[:len(texts)-1]
			if len(texts) > 0 {
				// The parent's text includes this child's, in order.
				texts[len(texts)-1].WriteString(n.Text)
			}
		case xml.CharData:
			if len(texts) > 0 {
				texts[len(texts)-1].Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: text outside the root element", errNotTwiML)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", errNotTwiML)
	}
	if root.Name != "Response" {
		return nil, fmt.Errorf("%w: root element is not <Response>", errNotTwiML)
	}
	return root, nil
}

// qualified names an element or attribute as written: "xml:lang" keeps its
// prefix (encoding/xml reports the xml prefix as its namespace URL).
func qualified(n xml.Name) string {
	switch n.Space {
	case "":
		return n.Local
	case "http://www.w3.org/XML/1998/namespace", "xml":
		return "xml:" + n.Local
	default:
		return n.Space + ":" + n.Local
	}
}

// speech normalises the text of a <Say> the way a listener hears it: runs
// of whitespace (indentation, SSML line breaks) become single spaces.
func speech(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
