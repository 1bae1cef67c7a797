package dialog

import (
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// Machine runs the dialog under one Config. It holds no call state and is
// safe for concurrent use.
type Machine struct {
	cfg Config
}

// New returns a machine for cfg, filling unset fields from DefaultConfig.
func New(cfg Config) *Machine {
	def := DefaultConfig()
	if len(cfg.Languages) == 0 {
		cfg.Languages = def.Languages
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.MaxMisses <= 0 {
		cfg.MaxMisses = def.MaxMisses
	}
	if cfg.MaxPolls <= 0 {
		cfg.MaxPolls = def.MaxPolls
	}
	if cfg.SpellBelow == 0 {
		cfg.SpellBelow = def.SpellBelow
	}
	return &Machine{cfg: cfg}
}

// Config returns the machine's policy.
func (m *Machine) Config() Config { return m.cfg }

// Step advances the call by one event. It performs no I/O and reads no clock.
// Every event on a live call yields at least one action; events that do not
// fit the current node (a stale webhook) re-ask the current question rather
// than move the call.
func (m *Machine) Step(s State, ev Event) (State, []Action) {
	if s.Node == NodeEnded {
		return s, nil
	}
	if _, ended := ev.(CallEnded); !ended && s.Node == "" {
		// A call with no state yet can only begin.
		ev = Start{}
	}
	switch ev := ev.(type) {
	case CallEnded:
		return State{Node: NodeEnded, Lang: s.Lang, Attempts: s.Attempts, Reason: s.Reason}, nil
	case Start:
		if s.Node != "" {
			return s, m.prompt(s)
		}
		s = State{Lang: m.cfg.Languages[0]}
		greet := Say{Prompt: prompts.Greeting}
		if len(m.cfg.Languages) > 1 {
			s.Node = NodeLanguage
			return s, m.prompt(s, greet)
		}
		s.Node = NodeName
		return s, m.prompt(s, greet)
	case Resume:
		return s, m.prompt(s)
	case AnswersLost:
		switch s.Node {
		case NodeDOB, NodeConfirmDOB, NodeSSN4, NodeOTP, NodeVerifying, NodeSpell:
			s.Answers = Answers{}
			return m.next(s, NodeName)
		}
		s.Answers = Answers{}
		return s, m.prompt(s)
	case Poll:
		if s.Node != NodeVerifying {
			return s, m.prompt(s)
		}
		s.Polls++
		if s.Polls > m.cfg.MaxPolls {
			return m.fail(s, ReasonUnavailable)
		}
		return s, []Action{Hold{}}
	case VerifyResult:
		if s.Node != NodeVerifying {
			return s, m.prompt(s)
		}
		return m.verified(s, ev)
	case Input:
		return m.input(s, ev)
	}
	return s, m.prompt(s)
}

func (m *Machine) input(s State, in Input) (State, []Action) {
	lang := s.Lang
	if m.cfg.HasFallback && in.Digits == "" && in.Speech != "" && asking(s.Node) && kba.WantsPerson(in.Speech, lang) {
		// "Agent", "representante": the caller is transferred to the humans
		// at once rather than asked again. Without a fallback there is
		// nobody to transfer to; the parsers reject the request and it
		// counts as any answer that is not understood.
		return m.fail(s, ReasonAskedForPerson)
	}
	switch s.Node {
	case NodeLanguage:
		s.Lang = m.chooseLanguage(in)
		return m.next(s, NodeName)
	case NodeName:
		if in.Speech == "" {
			return m.miss(s)
		}
		name, err := kba.ParseSpokenName(in.Speech, lang)
		if err != nil {
			return m.miss(s)
		}
		s.Answers.Name = name
		if in.HasConfidence && in.Confidence < m.cfg.SpellBelow {
			return m.next(s, NodeSpell)
		}
		return m.next(s, NodeDOB)
	case NodeSpell:
		family, err := kba.ParseSpelling(in.Speech, lang)
		if in.Speech == "" || err != nil {
			// Spelling only confirms a name we already heard; when it fails
			// too, go on with what the recogniser gave (the AS matches names
			// tolerantly) rather than lose the caller.
			if s.Misses+1 >= m.cfg.MaxMisses {
				return m.next(s, NodeDOB)
			}
			return m.miss(s)
		}
		s.Answers.Name.Family = family
		return m.next(s, NodeDOB)
	case NodeDOB:
		var (
			d       kba.Date
			confirm bool
			err     error
		)
		switch {
		case in.Digits != "":
			d, err = kba.ParseKeypadDate(in.Digits, in.At)
		case in.Speech != "":
			var r kba.DateReading
			r, err = kba.ParseSpokenDate(in.Speech, lang, in.At)
			d, confirm = r.Date, r.Confirm
		default:
			return m.miss(s)
		}
		if err != nil {
			return m.miss(s)
		}
		s.Answers.DOB = d
		if confirm {
			// The read-back shares the date question's miss count, so a caller
			// who keeps pressing 2 still reaches the failure path.
			s.Node, s.Notice = NodeConfirmDOB, ""
			return s, m.prompt(s)
		}
		return m.next(s, NodeSSN4)
	case NodeConfirmDOB:
		yes, ok := false, false
		switch {
		case in.Digits == "1":
			yes, ok = true, true
		case in.Digits == "2":
			ok = true
		case in.Speech != "":
			yes, ok = kba.ParseYesNo(in.Speech, lang)
		}
		if !ok {
			return m.miss(s)
		}
		if yes {
			return m.next(s, NodeSSN4)
		}
		s.Answers.DOB = kba.Date{}
		s.Node = NodeDOB
		return m.miss(s)
	case NodeSSN4:
		v, ok := digits(in, lang, 4)
		if !ok {
			return m.miss(s)
		}
		s.Answers.SSN4 = v
		s.Answers.OTP = ""
		s.Attempts++
		s.Node, s.Misses, s.Polls, s.Retried, s.Notice = NodeVerifying, 0, 0, false, ""
		return s, []Action{Verify{Fresh: true}}
	case NodeOTP:
		v, ok := digits(in, lang, 6)
		if !ok {
			return m.miss(s)
		}
		s.Answers.OTP = v
		s.Node, s.Polls, s.Retried, s.Notice = NodeVerifying, 0, false, ""
		return s, []Action{Verify{}}
	}
	// Input while verifying or after the end is a stale request.
	return s, m.prompt(s)
}

// asking reports whether the node is a question waiting for the caller.
func asking(n Node) bool {
	switch n {
	case NodeLanguage, NodeName, NodeSpell, NodeDOB, NodeConfirmDOB, NodeSSN4, NodeOTP:
		return true
	}
	return false
}

// digits reads an n-digit answer from the keypad or from speech.
func digits(in Input, lang kba.Lang, n int) (string, bool) {
	var (
		v   string
		err error
	)
	switch {
	case in.Digits != "":
		v, err = kba.ParseKeypadDigits(in.Digits, n)
	case in.Speech != "":
		v, err = kba.ParseSpokenDigits(in.Speech, lang, n)
	default:
		return "", false
	}
	return v, err == nil
}

func (m *Machine) chooseLanguage(in Input) kba.Lang {
	if in.Digits != "" {
		if i := int(in.Digits[0] - '1'); len(in.Digits) == 1 && i >= 0 && i < len(m.cfg.Languages) {
			return m.cfg.Languages[i]
		}
		return m.cfg.Languages[0]
	}
	if l, ok := kba.ParseLanguageChoice(in.Speech); ok {
		for _, have := range m.cfg.Languages {
			if have == l {
				return l
			}
		}
	}
	return m.cfg.Languages[0]
}

func (m *Machine) verified(s State, r VerifyResult) (State, []Action) {
	if r.AuthSession != "" {
		s.Answers.AuthSession = r.AuthSession
	}
	switch r.Outcome {
	case OutcomeVerified:
		s.Node, s.Misses, s.Notice, s.Answers = NodeVerified, 0, "", Answers{}
		return s, m.prompt(s)
	case OutcomeOTPRequired:
		if r.AttemptsRemaining == 0 {
			return m.fail(s, ReasonAttempts)
		}
		if s.Answers.OTP != "" {
			// The AS asks for the code again: the one given was wrong.
			s.Node, s.Answers.OTP = NodeOTP, ""
			return m.miss(s)
		}
		return m.next(s, NodeOTP)
	case OutcomeDenied:
		if s.Attempts >= m.cfg.MaxAttempts || r.AttemptsRemaining == 0 {
			return m.fail(s, ReasonAttempts)
		}
		s.Answers = Answers{AuthSession: s.Answers.AuthSession}
		s.Notice = prompts.MismatchRetry
		s.Node, s.Misses = NodeName, 0
		return s, m.prompt(s)
	case OutcomeInvalidSession:
		s.Answers.AuthSession, s.Answers.OTP = "", ""
		if s.Retried {
			return m.fail(s, ReasonUnavailable)
		}
		s.Retried = true
		return s, []Action{Verify{}}
	case OutcomeRedirectToWeb:
		return m.fail(s, ReasonRedirectToWeb)
	case OutcomeLocked:
		return m.fail(s, ReasonLocked)
	case OutcomeCallerLimited:
		return m.fail(s, ReasonCallerLimit)
	}
	return m.fail(s, ReasonUnavailable)
}

// next moves to a question node and asks it.
func (m *Machine) next(s State, n Node) (State, []Action) {
	s.Node, s.Misses, s.Notice = n, 0, ""
	return s, m.prompt(s)
}

// miss counts a no-input or invalid answer on the current question: a
// re-prompt, or after MaxMisses the failure path (docs/dialog.md).
func (m *Machine) miss(s State) (State, []Action) {
	s.Misses++
	s.Notice = ""
	if s.Misses >= m.cfg.MaxMisses {
		return m.fail(s, ReasonNoInput)
	}
	return s, m.prompt(s)
}

func (m *Machine) fail(s State, reason string) (State, []Action) {
	s.Node, s.Reason, s.Answers, s.Notice = NodeFailed, reason, Answers{}, ""
	return s, m.prompt(s)
}

// prompt is what the caller hears on entering (or re-entering) the current
// node; lead is spoken first.
func (m *Machine) prompt(s State, lead ...Say) []Action {
	says := lead
	if s.Notice != "" {
		says = append(says, Say{Prompt: s.Notice})
	}
	ask := func(q Node, first, again prompts.ID, numDigits int, dtmf, speech bool) []Action {
		p := first
		if s.Misses > 0 {
			p = again
		}
		return []Action{Ask{Question: q, Say: append(says, Say{Prompt: p}), NumDigits: numDigits, DTMF: dtmf, Speech: speech}}
	}
	switch s.Node {
	case NodeLanguage:
		says = append(says, Say{Prompt: prompts.LanguageMenu, Lang: m.cfg.Languages[0]})
		for _, l := range m.cfg.Languages[1:] {
			says = append(says, Say{Prompt: prompts.LanguageMenu, Lang: l})
		}
		return []Action{Ask{Question: NodeLanguage, Say: says, NumDigits: 1, DTMF: true, Speech: true}}
	case NodeName:
		return ask(NodeName, prompts.AskName, prompts.RepromptName, 0, false, true)
	case NodeSpell:
		return ask(NodeSpell, prompts.AskSpell, prompts.RepromptSpell, 0, false, true)
	case NodeDOB:
		return ask(NodeDOB, prompts.AskDOB, prompts.RepromptDOB, 8, true, true)
	case NodeConfirmDOB:
		p := Say{Prompt: prompts.ConfirmDOB, Date: s.Answers.DOB}
		return []Action{Ask{Question: NodeConfirmDOB, Say: append(says, p), NumDigits: 1, DTMF: true, Speech: true}}
	case NodeSSN4:
		return ask(NodeSSN4, prompts.AskSSN4, prompts.RepromptSSN4, 4, true, true)
	case NodeOTP:
		return ask(NodeOTP, prompts.AskOTP, prompts.RepromptOTP, 6, true, true)
	case NodeVerifying:
		return []Action{Hold{}}
	}
	out := make([]Action, 0, len(says)+3)
	for _, s := range says {
		out = append(out, s)
	}
	switch s.Node {
	case NodeVerified:
		return append(out, Say{Prompt: prompts.Verified}, Handoff{})
	case NodeFailed:
		if s.Reason == ReasonUnavailable {
			out = append(out, Say{Prompt: prompts.Trouble})
		}
		if m.cfg.HasFallback {
			return append(out, Say{Prompt: prompts.Transfer}, Transfer{})
		}
		return append(out, Say{Prompt: prompts.Goodbye}, Hangup{})
	}
	return nil
}
