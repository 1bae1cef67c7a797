package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/twiliosim"
)

// fictionalCaller returns a random fictional US number, +1 NXX 555-01XX
// (the 555-0100 to 555-0199 block is reserved for fiction in every area
// code): about 80,000 of them, so replays against one gateway do not share a
// per-caller limit bucket.
func fictionalCaller() string {
	n := func(max int64) int64 {
		v, _ := rand.Int(rand.Reader, big.NewInt(max))
		return v.Int64()
	}
	return fmt.Sprintf("+1%d%02d55501%02d", 2+n(8), n(100), n(100))
}

// withCaller returns a copy of fx in which the caller's number is caller:
// the From and Caller parameters of every request (re-signed with the
// fixture's own token when their signature was valid, so the replay
// re-signs them for the target as usual) and the "from" of WebSocket setup
// messages. Each `ivr replay -url` run then counts against a fresh
// per-caller limit instead of the one number every fixture was recorded
// with: after a few runs that one would be over the limit, and the
// gateway's answers would no longer be the recorded ones.
func withCaller(fx *replay.Fixture, caller string) *replay.Fixture {
	old := ""
	for _, l := range fx.Lines {
		if v, err := url.ParseQuery(l.Request.Body); err == nil && v.Get("From") != "" {
			old = v.Get("From")
			break
		}
	}
	if old == "" {
		return fx
	}
	out := *fx
	out.Lines = make([]replay.Line, len(fx.Lines))
	for i, l := range fx.Lines {
		if l.Request.Body != "" {
			r := l.Request
			body := replaceParams(r.Body, old, caller)
			if body != r.Body {
				if r.Signature != "" && twiliosim.Sign(fx.Header.AuthToken, r.URL, mustQuery(r.Body)) == r.Signature {
					r.Signature = twiliosim.Sign(fx.Header.AuthToken, r.URL, mustQuery(body))
				}
				r.Body = body
				l.Request = r
			}
		}
		if l.Socket != nil {
			s := *l.Socket
			s.Frames = append([]replay.Frame(nil), s.Frames...)
			for j, f := range s.Frames {
				if f.Send != nil {
					s.Frames[j].Send = bytes.ReplaceAll(f.Send, []byte(`"`+old+`"`), []byte(`"`+caller+`"`))
				}
			}
			l.Socket = &s
		}
		out.Lines[i] = l
	}
	return &out
}

// replaceParams replaces the value old of the From and Caller parameters
// of a form body, keeping the body's order and encoding otherwise.
func replaceParams(body, old, caller string) string {
	parts := strings.Split(body, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || (k != "From" && k != "Caller") {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil && uv == old {
			parts[i] = k + "=" + url.QueryEscape(caller)
		}
	}
	return strings.Join(parts, "&")
}

func mustQuery(body string) url.Values {
	v, _ := url.ParseQuery(body)
	return v
}

// deletePrefix deletes every key under prefix (SCAN, then DEL in batches):
// what an in-process replay wrote to a shared Redis, TTL or not, goes when
// it is done.
func deletePrefix(rdb *redis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("replay: clean up %s*: %w", prefix, err)
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := rdb.Del(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("replay: clean up %s*: %w", prefix, err)
		}
		keys = keys[n:]
	}
	return nil
}
