package mcpdemo

import (
	"context"
	"errors"
	"hash/fnv"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// WhoamiResult is the structured output of the whoami tool.
type WhoamiResult struct {
	// PatientID is the token's sub: the patient id at the AS (docs/as-profile.md).
	PatientID string `json:"patient_id"`
	// Scope is the token's scope, space-separated (RFC 6749 §3.3).
	Scope string `json:"scope"`
}

// Appointment is the structured output of the next_appointment tool.
type Appointment struct {
	PatientID string    `json:"patient_id"`
	StartsAt  time.Time `json:"starts_at"`
	Clinician string    `json:"clinician"`
	Location  string    `json:"location"`
	Reason    string    `json:"reason"`
}

// Fictional data tables the appointment is picked from.
var (
	clinicians = []string{"Dr. Ada Okafor", "Dr. Luis Romero", "Dr. Mei Tanaka", "Dr. Sam Lindqvist"}
	locations  = []string{"Main Street Clinic, Room 2", "Riverside Health Center, Suite 110", "Telehealth (video)"}
	reasons    = []string{"Annual check-up", "Follow-up visit", "Lab results review", "Vaccination"}
)

// errNoToken and errScope guard the tools should the HTTP middleware ever
// be bypassed.
var (
	errNoToken = errors.New("mcpdemo: no verified token on request")
	errScope   = errors.New("mcpdemo: the token lacks the " + ScopePatientRead + " scope")
)

// tokenFor returns the request's verified token if it carries the scope
// the tool needs.
func tokenFor(req *mcp.CallToolRequest) (*auth.TokenInfo, error) {
	ti := req.Extra.TokenInfo
	switch {
	case ti == nil:
		return nil, errNoToken
	case !hasScope(ti, requiredScope(req.Params.Name)):
		return nil, errScope
	}
	return ti, nil
}

func (s *Server) addTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "whoami",
		Description: "Returns the patient id and scope of the access token used for this request (needs patient.read).",
	}, s.whoami)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "next_appointment",
		Description: "Returns the caller's next (fictional) appointment (needs patient.read).",
	}, s.nextAppointment)
}

func (s *Server) whoami(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, WhoamiResult, error) {
	ti, err := tokenFor(req)
	if err != nil {
		return nil, WhoamiResult{}, err
	}
	return nil, WhoamiResult{PatientID: ti.UserID, Scope: strings.Join(ti.Scopes, " ")}, nil
}

func (s *Server) nextAppointment(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Appointment, error) {
	ti, err := tokenFor(req)
	if err != nil {
		return nil, Appointment{}, err
	}
	return nil, NextAppointment(ti.UserID, s.now()), nil
}

// NextAppointment returns the fictional appointment of patientID as seen at
// now: the same patient and day always give the same answer. It is a
// weekday 1 to 14 days after now, on the hour between 08:00 and 16:00 UTC.
func NextAppointment(patientID string, now time.Time) Appointment {
	h := fnv.New64a()
	h.Write([]byte(patientID))
	n := h.Sum64()

	day := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1+int(n%14))
	for day.Weekday() == time.Saturday || day.Weekday() == time.Sunday {
		day = day.AddDate(0, 0, 1)
	}
	n /= 14
	start := day.Add(time.Duration(8+n%9) * time.Hour)
	n /= 9
	return Appointment{
		PatientID: patientID,
		StartsAt:  start,
		Clinician: clinicians[n%uint64(len(clinicians))],
		Location:  locations[(n/7)%uint64(len(locations))],
		Reason:    reasons[(n/31)%uint64(len(reasons))],
	}
}
