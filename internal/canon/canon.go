// Package canon puts TwiML in a canonical form for comparison: twilio-go
// writes attributes in Go map order, so two renders of one document differ
// as strings.
package canon

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Canonical renders TwiML with attributes sorted, so documents that differ
// only in attribute order (twilio-go writes them in map order) compare
// equal. The public URL becomes "{public}", so fixtures replay against a
// gateway at any address. Invalid XML yields an "invalid:" string.
func TwiML(twiml, publicURL string) string {
	dec := xml.NewDecoder(strings.NewReader(twiml))
	var b strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "invalid: " + err.Error()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			attrs := append([]xml.Attr(nil), t.Attr...)
			sort.Slice(attrs, func(i, j int) bool { return attrs[i].Name.Local < attrs[j].Name.Local })
			b.WriteString("<" + t.Name.Local)
			for _, a := range attrs {
				fmt.Fprintf(&b, " %s=%q", a.Name.Local, a.Value)
			}
			b.WriteString(">")
		case xml.EndElement:
			b.WriteString("</" + t.Name.Local + ">")
		case xml.CharData:
			b.WriteString(strings.TrimSpace(string(t)))
		}
	}
	out := b.String()
	if publicURL != "" {
		out = strings.ReplaceAll(out, publicURL, "{public}")
	}
	return out
}
