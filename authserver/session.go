package authserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Every Redis operation here touches one key, so each is one hash slot on
// a Redis Cluster. What has to be atomic is atomic on its own key: claiming
// an OTP (HDEL), redeeming a code (GETDEL), counting a session's uses
// (HINCRBY), a client's rate (INCR) and a failure counter (counterScript).

// codeGrant is what an authorization code stands for; it is stored under
// the code's keyed hash for codeTTL and read once.
type codeGrant struct {
	Client    string `json:"c"`
	Sub       string `json:"s"`
	Challenge string `json:"pkce"`
	Resource  string `json:"r,omitempty"`
	Scope     string `json:"sc,omitempty"`
	Exp       int64  `json:"exp"`
}

// issueCode stores a code for sub and answers it; a code clears the
// counters in clear (a success resets the count). A session made for this
// request (newSession) is stored with it, already done: a right first
// answer costs one write round trip, not two.
//
// The session, the code and the counters live in different slots, so they
// are written in one pipeline rather than one transaction. Nothing needs
// them together: the code is handed out only if every write succeeded, an
// unused code expires, and a session marked done (or, if the pipeline is
// cut short, left without its TTL: its exp field still ends it) or a
// counter left uncleared only errs on the safe side.
func (s *Server) issueCode(ctx context.Context, client string, req challengeRequest, sess *session, fresh bool, sub string, clear [][]byte, outcome string) (any, string, error) {
	code, err := s.randToken(32)
	if err != nil {
		return nil, "error", err
	}
	g := codeGrant{
		Client: client, Sub: sub, Challenge: req.codeChallenge, Resource: req.resource,
		Scope: req.scope, Exp: s.now().Add(codeTTL).UnixMilli(),
	}
	b, err := json.Marshal(g)
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: code: %w", err)
	}
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if fresh {
			s.writeSession(ctx, p, sess, client, stateDone)
		} else {
			p.HSet(ctx, sess.key, "st", stateDone)
			p.HDel(ctx, sess.key, "sub", "otp", "oexp", "tries", "ident")
		}
		p.Set(ctx, s.key("code", mac(s.hashKey, macCode, code)), b, codeTTL)
		for _, id := range clear {
			p.Del(ctx, s.key("fail", id))
		}
		return nil
	})
	if err != nil {
		return nil, "error", fmt.Errorf("authserver: store code: %w", err)
	}
	return challengeOK{AuthorizationCode: code, AuthSession: sess.token}, outcome, nil
}

// newOTP returns six uniformly random digits.
func (s *Server) newOTP() (string, error) {
	var b [4]byte
	for {
		if _, err := s.rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("authserver: otp: %w", err)
		}
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		// Reject the top partial range so every code is equally likely.
		if v < 4294000000 {
			return fmt.Sprintf("%06d", v%1000000), nil
		}
	}
}

// Session states.
const (
	stateNew  = "new"
	stateOTP  = "otp"
	stateDone = "done"
)

// session is an auth_session (FiPA §5.3.1): a 256-bit random value handed
// to the client, stored under its keyed hash, bound to the client.
type session struct {
	token  string
	key    string
	state  string
	sub    string
	ident  []byte
	otpMAC []byte
	otpExp int64
}

// newSession makes a new auth_session's token and key; writeSession
// stores it.
func (s *Server) newSession() (*session, error) {
	tok, err := s.randToken(32)
	if err != nil {
		return nil, err
	}
	return &session{token: tok, key: s.key("sess", mac(s.hashKey, macSession, tok)), state: stateNew}, nil
}

// writeSession queues the writes that store a new session for client in
// state st.
func (s *Server) writeSession(ctx context.Context, p redis.Pipeliner, sess *session, client, st string) {
	p.HSet(ctx, sess.key, "c", client, "st", st, "exp", s.now().Add(sessionTTL).UnixMilli(), "n", 0)
	p.PExpire(ctx, sess.key, sessionTTL)
}

// createSession stores a new session (one that will wait for an OTP).
func (s *Server) createSession(ctx context.Context, client string) (*session, error) {
	sess, err := s.newSession()
	if err != nil {
		return nil, err
	}
	// One key: a transaction a cluster accepts.
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		s.writeSession(ctx, p, sess, client, stateNew)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("authserver: create session: %w", err)
	}
	return sess, nil
}

// loadSession returns the session for tok, or nil when it is unknown,
// expired, another client's, or used more than sessionMaxUses times.
func (s *Server) loadSession(ctx context.Context, client, tok string) (*session, error) {
	k := s.key("sess", mac(s.hashKey, macSession, tok))
	h, err := s.rdb.HGetAll(ctx, k).Result()
	if err != nil {
		return nil, fmt.Errorf("authserver: load session: %w", err)
	}
	if len(h) == 0 || subtle.ConstantTimeCompare([]byte(h["c"]), []byte(client)) != 1 {
		return nil, nil
	}
	exp, _ := strconv.ParseInt(h["exp"], 10, 64)
	if s.now().UnixMilli() >= exp {
		s.rdb.Del(ctx, k)
		return nil, nil
	}
	n, err := s.rdb.HIncrBy(ctx, k, "n", 1).Result()
	if err != nil {
		return nil, fmt.Errorf("authserver: session use: %w", err)
	}
	if n > sessionMaxUses {
		s.rdb.Del(ctx, k)
		return nil, nil
	}
	sess := &session{token: tok, key: k, state: h["st"], sub: h["sub"], ident: []byte(h["ident"]), otpMAC: []byte(h["otp"])}
	sess.otpExp, _ = strconv.ParseInt(h["oexp"], 10, 64)
	return sess, nil
}

func (s *Server) startOTP(ctx context.Context, sess *session, sub string, ident []byte, otp string) error {
	err := s.rdb.HSet(ctx, sess.key,
		"st", stateOTP, "sub", sub, "ident", string(ident),
		"otp", string(mac(s.hashKey, macOTP, sess.key, otp)),
		"oexp", s.now().Add(otpTTL).UnixMilli(), "tries", 0).Err()
	if err != nil {
		return fmt.Errorf("authserver: start OTP: %w", err)
	}
	return nil
}

// clientLimited counts a challenge request in the client's one-minute window.
func (s *Server) clientLimited(ctx context.Context, client string) (bool, error) {
	window := s.now().Unix() / 60
	k := s.prefix + "rl:" + client + ":" + strconv.FormatInt(window, 10)
	var n *redis.IntCmd
	// One key: a transaction a cluster accepts.
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		n = p.Incr(ctx, k)
		p.Expire(ctx, k, 2*time.Minute)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("authserver: rate limit: %w", err)
	}
	return n.Val() > int64(s.rateLimit), nil
}
