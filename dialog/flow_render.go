package dialog

import (
	"bytes"
	"fmt"
	"strings"
)

// Mermaid renders the flow as a Mermaid flowchart (GitHub renders it in
// Markdown). It keeps to the documented basic syntax: quoted labels, shapes
// [ ] ( ) {{ }} ([ ]) (( )), arrows --> and -.-> with |"label"|.
func (f Flow) Mermaid() []byte {
	var b bytes.Buffer
	b.WriteString("flowchart TD\n")
	for _, v := range f.Vertices {
		open, end := mermaidShape(v.Kind)
		fmt.Fprintf(&b, "    %s%s\"%s\"%s\n", v.ID, open, mermaidText(v.Label), end)
	}
	for _, e := range f.Edges {
		arrow := "-->"
		if e.Aside {
			arrow = "-.->"
		}
		if e.Label == "" {
			fmt.Fprintf(&b, "    %s %s %s\n", e.From, arrow, e.To)
			continue
		}
		fmt.Fprintf(&b, "    %s %s|\"%s\"| %s\n", e.From, arrow, mermaidText(e.Label), e.To)
	}
	return b.Bytes()
}

func mermaidShape(k FlowVertexKind) (open, end string) {
	switch k {
	case FlowStart:
		return "((", "))"
	case FlowWaiting:
		return "{{", "}}"
	case FlowTerminal:
		return "(", ")"
	case FlowOutcome:
		return "([", "])"
	}
	return "[", "]"
}

// mermaidText escapes a label for a quoted Mermaid string: a double quote
// would end it, and Mermaid reads #...; as an entity code.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "#", "#35;").Replace(s)
}

// Dot renders the flow in the Graphviz language: `dot -Tsvg` draws it.
func (f Flow) Dot() []byte {
	var b bytes.Buffer
	b.WriteString("digraph ivr_flow {\n")
	b.WriteString("    rankdir=TB;\n")
	b.WriteString("    node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	b.WriteString("    edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, v := range f.Vertices {
		fmt.Fprintf(&b, "    %s [label=%s%s];\n", dotID(v.ID), dotText(v.Label), dotShape(v.Kind))
	}
	for _, e := range f.Edges {
		var attrs []string
		if e.Label != "" {
			attrs = append(attrs, "label="+dotText(e.Label))
		}
		if e.Aside {
			attrs = append(attrs, "style=dashed")
		}
		line := "    " + dotID(e.From) + " -> " + dotID(e.To)
		if len(attrs) > 0 {
			line += " [" + strings.Join(attrs, ", ") + "]"
		}
		b.WriteString(line + ";\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func dotShape(k FlowVertexKind) string {
	switch k {
	case FlowStart:
		return ", shape=oval"
	case FlowWaiting:
		return ", shape=hexagon, style=solid"
	case FlowTerminal:
		return ", style=\"rounded,bold\""
	case FlowOutcome:
		return ", shape=oval, style=filled, fillcolor=lightgrey"
	}
	return ""
}

func dotID(id string) string { return dotText(id) }

// dotText quotes a Graphviz string.
func dotText(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
