package telephony

import (
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/twiml"

	"github.com/ivr-gateway/ivr/callflow"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/prompts"
)

// speechSettings are the <Gather> speech options per question (Twilio
// <Gather> docs: hints, speechModel, speechTimeout). A speechModel needs a
// numeric speechTimeout, so questions with a model use one.
type speechSettings struct {
	timeout       string // seconds of silence before the gather ends (dtmf)
	speechTimeout string
	speechModel   string
	hints         string
}

func settingsFor(q dialog.Node) speechSettings {
	switch q {
	case dialog.NodeLanguage:
		return speechSettings{timeout: "3", speechTimeout: "auto", hints: "español,espanol,Spanish,English,inglés"}
	case dialog.NodeName:
		return speechSettings{timeout: "6", speechTimeout: "auto", hints: "my name is,me llamo"}
	case dialog.NodeSpell:
		return speechSettings{timeout: "6", speechTimeout: "2", speechModel: "numbers_and_commands",
			hints: "$OOV_CLASS_ALPHA_SEQUENCE,alpha,bravo,charlie,delta,echo,foxtrot,golf,hotel,india,juliett,kilo,lima,mike,november,oscar,papa,quebec,romeo,sierra,tango,uniform,victor,whiskey,x-ray,yankee,zulu"}
	case dialog.NodeDOB:
		return speechSettings{timeout: "8", speechTimeout: "auto", hints: "$MONTH,$DAY,$YEAR,january,february,march,april,may,june,july,august,september,october,november,december"}
	case dialog.NodeConfirmDOB:
		return speechSettings{timeout: "5", speechTimeout: "auto", hints: "yes,no,correct,sí,no"}
	case dialog.NodeSSN4, dialog.NodeOTP:
		return speechSettings{timeout: "8", speechTimeout: "3", speechModel: "numbers_and_commands", hints: "$OOV_CLASS_DIGIT_SEQUENCE"}
	}
	return speechSettings{timeout: "5", speechTimeout: "auto"}
}

// renderer turns dialog actions into TwiML for one response.
type renderer struct {
	bindKey []byte // for a <Stream>'s binding
	cfg     *Config
	cat     *prompts.Catalogue
	lang    kba.Lang
	step    int64
	polls   int
	call    callflow.Call // for a <Stream>'s or <ConversationRelay>'s binding
	langs   []kba.Lang    // the call's languages, for <ConversationRelay>'s <Language>s
	verbs   []twiml.Element
	pending []twiml.Element // <Say>s waiting to be nested in a <Gather> or flushed
}

func (r *renderer) url(path string) string {
	return r.cfg.PublicURL + path + "?step=" + strconv.FormatInt(r.step, 10)
}

func (r *renderer) say(s dialog.Say) twiml.Element {
	lang := r.lang
	if s.Lang != "" {
		lang = s.Lang
	}
	vars := []string{"org", r.cfg.OrgName}
	if !s.Date.IsZero() {
		vars = append(vars, "date", kba.SpeakDate(s.Date, lang))
	}
	return &twiml.VoiceSay{
		Message:  r.cat.Text(string(lang), s.Prompt, vars...),
		Voice:    r.cfg.voice(r.cat, lang),
		Language: r.cat.Lookup(string(lang)).Code,
	}
}

func (r *renderer) flush() {
	r.verbs = append(r.verbs, r.pending...)
	r.pending = nil
}

func (r *renderer) add(actions []dialog.Action) {
	for _, a := range actions {
		switch a := a.(type) {
		case dialog.Say:
			r.pending = append(r.pending, r.say(a))
		case dialog.Ask:
			r.ask(a)
		case dialog.Hold:
			r.flush()
			if r.polls == 0 {
				r.verbs = append(r.verbs, r.say(dialog.Say{Prompt: prompts.Hold}))
			}
			r.verbs = append(r.verbs,
				&twiml.VoicePause{Length: strconv.Itoa(int(r.cfg.HoldPause.Seconds()))},
				&twiml.VoiceRedirect{Url: r.url("/twilio/poll"), Method: "POST"})
		case dialog.Handoff:
			r.flush()
			switch {
			case r.cfg.HandoffURL != "":
				r.verbs = append(r.verbs, &twiml.VoiceRedirect{Url: r.cfg.HandoffURL, Method: "POST"})
			case r.cfg.HandoffNumber != "":
				r.verbs = append(r.verbs, &twiml.VoiceDial{Number: r.cfg.HandoffNumber}, &twiml.VoiceHangup{})
			default:
				r.verbs = append(r.verbs, &twiml.VoiceHangup{})
			}
		case dialog.Transfer:
			r.flush()
			r.verbs = append(r.verbs, &twiml.VoiceDial{Number: r.cfg.FallbackNumber}, &twiml.VoiceHangup{})
		case dialog.Hangup:
			r.flush()
			r.verbs = append(r.verbs, &twiml.VoiceHangup{})
		}
	}
	r.flush()
}

// ask renders a question as <Gather> with its prompts nested (a key press or
// speech barges in), followed by a <Redirect> to the same action URL: Twilio
// falls through to it when the caller says nothing, and the dialog counts
// that as no input.
func (r *renderer) ask(a dialog.Ask) {
	if r.cfg.Transport == TransportStream && a.DTMF && streamQuestion(a.Question) {
		r.connectStream()
		return
	}
	if r.cfg.Transport == TransportRelay {
		r.connectRelay()
		return
	}
	for _, s := range a.Say {
		r.pending = append(r.pending, r.say(s))
	}
	var input []string
	if a.DTMF {
		input = append(input, "dtmf")
	}
	if a.Speech {
		input = append(input, "speech")
	}
	set := settingsFor(a.Question)
	g := &twiml.VoiceGather{
		Input:         strings.Join(input, " "),
		Action:        r.url("/twilio/gather"),
		Method:        "POST",
		Timeout:       set.timeout,
		InnerElements: r.pending,
	}
	r.pending = nil
	if a.NumDigits > 0 {
		g.NumDigits = strconv.Itoa(a.NumDigits)
	}
	if a.Speech {
		g.Language = r.cat.Lookup(string(r.lang)).Code
		g.SpeechTimeout = set.speechTimeout
		g.SpeechModel = set.speechModel
		g.Hints = set.hints
		// Names and dates are not profanity; Twilio's filter would mask
		// syllables of real surnames.
		g.ProfanityFilter = "false"
	}
	r.verbs = append(r.verbs, g, &twiml.VoiceRedirect{Url: r.url("/twilio/gather"), Method: "POST"})
}

// connectStream renders a keypad question in stream mode: the question's
// prompts are played as audio on the stream (stream.go), so none is said
// here. The step travels as a <Parameter> because a <Stream url> may carry
// no query string; the caller's number only as its reference; and a MAC
// binds both to the call (sockets.go), since the upgrade's signature is the
// same for every call.
func (r *renderer) connectStream() {
	r.flush()
	bind := bindingParams(r.bindKey, "stream", r.call.Sid, r.step, r.call.Caller)
	var params []twiml.Element
	for _, k := range []string{"step", "caller", "bind"} {
		if v := bind[k]; v != "" {
			params = append(params, &twiml.VoiceParameter{Name: k, Value: v})
		}
	}
	r.verbs = append(r.verbs, &twiml.VoiceConnect{
		Action: r.url("/twilio/stream-done"),
		Method: "POST",
		InnerElements: []twiml.Element{&twiml.VoiceStream{
			Url:           streamBase(r.cfg.PublicURL) + "/twilio/stream",
			InnerElements: params,
		}},
	})
}

// connectRelay renders a question in relay mode: a ConversationRelay
// session runs it, and every question after it, so none is said here. The
// session is bound to the call like a stream (sockets.go). Attributes
// twilio-go would write in lower case are avoided (twilio-voice.md §6.2):
// every one used here is a documented camelCase name twilio-go renders
// right.
func (r *renderer) connectRelay() {
	r.flush()
	langs := r.langs
	if len(langs) == 0 {
		langs = []kba.Lang{r.lang}
	}
	var inner []twiml.Element
	for _, l := range langs {
		provider, voice := relayTTS(r.cfg.voice(r.cat, l))
		inner = append(inner, &twiml.VoiceLanguage{Code: r.cat.Lookup(string(l)).Code, TtsProvider: provider, Voice: voice})
	}
	bind := bindingParams(r.bindKey, "relay", r.call.Sid, r.step, r.call.Caller)
	for _, k := range []string{"step", "caller", "bind"} {
		if v := bind[k]; v != "" {
			inner = append(inner, &twiml.VoiceParameter{Name: k, Value: v})
		}
	}
	provider, voice := relayTTS(r.cfg.voice(r.cat, r.lang))
	r.verbs = append(r.verbs, &twiml.VoiceConnect{
		Action: r.url("/twilio/relay-done"),
		Method: "POST",
		InnerElements: []twiml.Element{&twiml.VoiceConversationRelay{
			Url:         streamBase(r.cfg.PublicURL) + "/twilio/relay",
			Language:    r.cat.Lookup(string(r.lang)).Code,
			TtsProvider: provider,
			Voice:       voice,
			// Keys arrive as dtmf messages; a key or a word stops the
			// question being spoken (barge-in) and is reported.
			DtmfDetection:                "true",
			Interruptible:                "any",
			ReportInputDuringAgentSpeech: "any",
			InnerElements:                inner,
		}},
	})
}

// relayTTS maps a <Say> voice (the catalogue's or IVR_VOICES') to
// ConversationRelay's ttsProvider and voice: "Polly.Joanna-Neural" is
// Amazon's "Joanna-Neural", "Google.en-US-Neural2-F" Google's. Other names
// ("alice", "man") have no ConversationRelay equivalent: Twilio's default
// voice for the language speaks.
func relayTTS(sayVoice string) (provider, voice string) {
	for prefix, p := range map[string]string{"Polly.": "Amazon", "Google.": "Google", "ElevenLabs.": "ElevenLabs"} {
		if v, ok := strings.CutPrefix(sayVoice, prefix); ok && v != "" {
			return p, v
		}
	}
	return "", ""
}

func (r *renderer) xml() string {
	s, err := twiml.Voice(r.verbs)
	if err != nil {
		// twiml.Voice only fails on etree serialisation of a document we
		// built ourselves; the caller still gets valid TwiML.
		return emptyTwiML
	}
	return s
}

const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`
