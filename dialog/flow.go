package dialog

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// EventClass is one kind of thing that can happen to a call, as the call-flow
// drawing labels it. The drawing is the machine's own answer to these events:
// WalkFlow feeds the representative events to Step and draws wherever Step
// goes, so the classes say what to try, never where it leads.
type EventClass struct {
	// Label names the class on the drawing's edges. It is a kind of event
	// ("no input", "denied"), never a value the caller gave.
	Label string
	// Events returns representative events of the class for a call in state
	// s, in its language; nil where the class cannot happen. Most classes
	// look at the node only. Every event of one class must lead to the same
	// place from the same node, or Nth must tell why not.
	Events func(s State) []Event
	// Nth tells how many times, counting this one, the event has happened
	// where it matters in state s (the second miss of a question, the third
	// denial). It labels the edges when one class leads to different places
	// by repetition; nil for a class that always leads to one place.
	Nth func(s State) int
	// Aside marks an event that can happen everywhere (the caller hangs up);
	// it is drawn dashed so the main path stays readable.
	Aside bool
}

// FlowVertexKind says what a vertex of the drawing stands for, and so its shape.
type FlowVertexKind int

// Vertex kinds, in drawing order.
const (
	// FlowStart is the incoming call.
	FlowStart FlowVertexKind = iota
	// FlowQuestion is a node that asks the caller something.
	FlowQuestion
	// FlowWaiting is a node that waits for something other than the caller
	// (the authorization server).
	FlowWaiting
	// FlowTerminal is a node no input moves on (verified, failed, ended).
	FlowTerminal
	// FlowOutcome is where a call leaves the dialog: an action such as
	// Handoff, Transfer or Hangup.
	FlowOutcome
)

// FlowVertex is one box of the drawing.
type FlowVertex struct {
	ID    string // safe as a Mermaid and Graphviz identifier
	Label string
	Kind  FlowVertexKind
	// Node is the dialog node the vertex stands for; "" for the start and
	// the outcomes.
	Node Node
}

// FlowEdge is one arrow of the drawing.
type FlowEdge struct {
	From, To string // vertex IDs
	Label    string // "" for the incoming call and the outcomes
	Aside    bool
}

// Flow is the dialog drawn as a graph, in a deterministic order: vertices by
// kind then by when the walk first met them, edges by their ends then label.
type Flow struct {
	Vertices []FlowVertex
	Edges    []FlowEdge
	// States is how many distinct dialog states the walk reached.
	States int
}

// maxFlowStates bounds the walk. Misses, attempts and polls make states
// distinct, so the machine's own limits bound it (the default machine has
// about 3,500 states, some 1,200 more per allowed attempt); this catches a
// change that makes a counter unbounded.
const maxFlowStates = 200000

// Vertex IDs: prefixed, so no dialog node can collide with a Mermaid keyword
// ("end") or start with the "o" or "x" that Mermaid reads as an arrow head.
const (
	startID       = "incoming"
	nodeIDPrefix  = "n_"
	outcomePrefix = "r_"
)

var nodeLabels = map[Node]string{
	NodeLanguage:   "language menu",
	NodeName:       "full name",
	NodeSpell:      "spell the family name",
	NodeDOB:        "date of birth",
	NodeConfirmDOB: "read the date back",
	NodeSSN4:       "SSN last 4",
	NodeOTP:        "one-time code",
	NodeVerifying:  "verify at the AS",
	NodeVerified:   "verified",
	NodeFailed:     "failure path",
	NodeEnded:      "call ended",
}

// outcomes are the actions by which a call leaves the dialog, in drawing order.
var outcomes = []struct {
	id, label string
	is        func(Action) bool
}{
	{"handoff", "hand-off to the agent", func(a Action) bool { _, ok := a.(Handoff); return ok }},
	{"transfer", "transfer to the fallback number", func(a Action) bool { _, ok := a.(Transfer); return ok }},
	{"hangup", "goodbye and hang up", func(a Action) bool { _, ok := a.(Hangup); return ok }},
}

type edgeKey struct {
	from, to string
	class    int
	note     string
}

type groupKey struct {
	from  string
	class int
}

// WalkFlow draws m's dialog: from an incoming call it feeds every
// representative event of every class to Step in every state it reaches,
// breadth first, and collapses the states by node. An event that leaves the
// state and the prompt as they are (a stale webhook, a poll while the caller
// is being asked something) is no edge. Actions become outcome vertices; a
// repeated event that leads elsewhere the nth time gets the ordinal in its
// label ("no input (2nd)").
//
// It fails when the walk passes 200,000 states, or when one class leads
// from one node to different places and has no Nth to tell them apart (the
// class needs splitting).
func WalkFlow(m *Machine, classes []EventClass) (Flow, error) {
	return walkFlow(m, classes, maxFlowStates)
}

func walkFlow(m *Machine, classes []EventClass, maxStates int) (Flow, error) {
	w := flowWalk{
		kind:  map[string]FlowVertex{},
		nths:  map[edgeKey]map[int]bool{},
		plain: map[FlowEdge]bool{},
	}
	w.vertex(FlowVertex{ID: startID, Label: "incoming call", Kind: FlowStart})
	first, acts := m.Step(State{}, Start{})
	w.plain[FlowEdge{From: startID, To: w.nodeVertex(first, acts)}] = true
	w.outcomes(first, acts)

	seen := map[State]bool{first: true}
	queue := []State{first}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		_, idle := m.Step(s, Resume{})
		from := nodeIDPrefix + string(s.Node)
		for ci, c := range classes {
			if c.Events == nil {
				continue
			}
			for _, ev := range c.Events(s) {
				next, acts := m.Step(s, ev)
				if next == s && reflect.DeepEqual(acts, idle) {
					continue
				}
				to := w.nodeVertex(next, acts)
				w.outcomes(next, acts)
				k := edgeKey{from: from, to: to, class: ci, note: actionNote(acts, from == to)}
				if w.nths[k] == nil {
					w.nths[k] = map[int]bool{}
				}
				if c.Nth != nil {
					w.nths[k][c.Nth(s)] = true
				}
				if !seen[next] {
					if len(seen) >= maxStates {
						return Flow{}, fmt.Errorf("dialog: flow: more than %d states: the walk is not bounded", maxStates)
					}
					seen[next] = true
					queue = append(queue, next)
				}
			}
		}
	}
	f, err := w.flow(classes)
	f.States = len(seen)
	return f, err
}

type flowWalk struct {
	order []string // vertex IDs as the walk met them
	kind  map[string]FlowVertex
	nths  map[edgeKey]map[int]bool
	plain map[FlowEdge]bool // unlabelled edges: the incoming call and the outcomes
}

func (w *flowWalk) vertex(v FlowVertex) {
	if _, ok := w.kind[v.ID]; ok {
		return
	}
	w.order = append(w.order, v.ID)
	w.kind[v.ID] = v
}

// nodeVertex names the vertex of s's node, its kind read from the machine:
// terminal by State.Terminal, a question when entering it asks one.
func (w *flowWalk) nodeVertex(s State, acts []Action) string {
	id := nodeIDPrefix + string(s.Node)
	kind := FlowWaiting
	switch {
	case s.Terminal():
		kind = FlowTerminal
	case slices.ContainsFunc(acts, func(a Action) bool { _, ok := a.(Ask); return ok }):
		kind = FlowQuestion
	}
	if v, ok := w.kind[id]; ok {
		// A node entered both with and without a question (verifying is
		// entered with Verify and polled with Hold) is a question only if it
		// ever asks one.
		if kind == FlowQuestion && v.Kind == FlowWaiting {
			v.Kind = kind
			w.kind[id] = v
		}
		return id
	}
	label, ok := nodeLabels[s.Node]
	if !ok {
		label = string(s.Node)
	}
	w.vertex(FlowVertex{ID: id, Label: label, Kind: kind, Node: s.Node})
	return id
}

// outcomes draws the actions by which the call leaves the dialog on entering s.
func (w *flowWalk) outcomes(s State, acts []Action) {
	for _, o := range outcomes {
		if slices.ContainsFunc(acts, o.is) {
			w.vertex(FlowVertex{ID: outcomePrefix + o.id, Label: o.label, Kind: FlowOutcome})
			w.plain[FlowEdge{From: nodeIDPrefix + string(s.Node), To: outcomePrefix + o.id}] = true
		}
	}
}

// actionNote names what a self-loop does besides asking again: the caller is
// put on hold, or the verification is sent again.
func actionNote(acts []Action, self bool) string {
	var notes []string
	for _, a := range acts {
		switch a.(type) {
		case Hold:
			notes = append(notes, "hold")
		case Verify:
			if self {
				notes = append(notes, "verify again")
			}
		}
	}
	return strings.Join(notes, ", ")
}

func (w *flowWalk) flow(classes []EventClass) (Flow, error) {
	groups := map[groupKey][]edgeKey{}
	for k := range w.nths {
		g := groupKey{k.from, k.class}
		groups[g] = append(groups[g], k)
	}
	edges := make([]FlowEdge, 0, len(w.nths)+len(w.plain))
	for g, ks := range groups {
		c := classes[g.class]
		if len(ks) > 1 && c.Nth == nil {
			var tos []string
			for _, k := range ks {
				tos = append(tos, k.to)
			}
			slices.Sort(tos)
			return Flow{}, fmt.Errorf("dialog: flow: %q leads from %s to %s: split the class or give it an Nth", c.Label, g.from, strings.Join(tos, ", "))
		}
		for _, k := range ks {
			label := c.Label
			if len(ks) > 1 {
				label += " (" + ordinals(w.nths[k]) + ")"
			}
			if k.note != "" {
				label += " / " + k.note
			}
			edges = append(edges, FlowEdge{From: k.from, To: k.to, Label: label, Aside: c.Aside})
		}
	}
	for e := range w.plain {
		edges = append(edges, e)
	}
	vertices := make([]FlowVertex, 0, len(w.order))
	for _, id := range w.order {
		vertices = append(vertices, w.kind[id])
	}
	slices.SortStableFunc(vertices, func(a, b FlowVertex) int { return int(a.Kind) - int(b.Kind) })
	rank := make(map[string]int, len(vertices))
	for i, v := range vertices {
		rank[v.ID] = i
	}
	slices.SortFunc(edges, func(a, b FlowEdge) int {
		if d := rank[a.From] - rank[b.From]; d != 0 {
			return d
		}
		if d := rank[a.To] - rank[b.To]; d != 0 {
			return d
		}
		return strings.Compare(a.Label, b.Label)
	})
	return Flow{Vertices: vertices, Edges: edges}, nil
}

// ordinals writes a set of counts as runs: "1st", "1st-10th", "1st, 3rd".
func ordinals(set map[int]bool) string {
	ns := make([]int, 0, len(set))
	for n := range set {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, ordinal(ns[i]))
		} else {
			parts = append(parts, ordinal(ns[i])+"-"+ordinal(ns[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
