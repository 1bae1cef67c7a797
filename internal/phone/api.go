package phone

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// The page's routes. The API is JSON over POST: a dial, then one step
// per caller action, each answered with the call's view.
const (
	pagePath   = "/phone"
	staticPath = "/phone/static/"
	callsPath  = "/phone/api/calls"
)

// contentSecurity lets the page load nothing but its own script and
// style, talk to nothing but its own API, and be framed by nobody.
const contentSecurity = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) routes() {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := http.StripPrefix(staticPath, http.FileServerFS(sub))
	s.mux = http.NewServeMux()
	s.mux.Handle("GET "+pagePath, s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		http.ServeFileFS(w, r, sub, "index.html")
	})))
	s.mux.Handle("GET "+staticPath+"{file}", s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		if r.PathValue("file") == "index.html" {
			http.NotFound(w, r) // FileServer would redirect it to the directory
			return
		}
		files.ServeHTTP(w, r)
	})))
	s.mux.Handle("POST "+callsPath, s.guard(s.api(s.handleDial)))
	s.mux.Handle("POST "+callsPath+"/{id}", s.guard(s.api(s.handleStep)))
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// guard answers only requests addressed to this machine by name: a page
// of another site that rebinds its own name to 127.0.0.1 sends its own
// Host, and is refused.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeError(w, http.StatusMisdirectedRequest, "this phone answers on the demo's own address only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if host == "localhost" || s.hosts[host] {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// api checks what every API request must be: JSON sent by the page
// itself (no other site's form or script: a cross-site request is refused
// by its Origin or Sec-Fetch-Site, and application/json cannot be sent
// cross-origin without a preflight nobody answers), at most maxBodyLen
// bytes. Answers are never cached: they hold what the caller heard.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeError(w, http.StatusForbidden, "cross-site request refused")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "send application/json")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyLen))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		h(w, r, body)
	})
}

func (s *Server) handleDial(w http.ResponseWriter, r *http.Request, body []byte) {
	// The dial takes no settings; an empty object is what the page sends.
	if t := strings.TrimSpace(string(body)); t != "" && t != "{}" {
		writeError(w, http.StatusBadRequest, "a dial takes an empty JSON object")
		return
	}
	c, turn, err := s.dial()
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", retryAfter(s.cfg.IdleTimeout))
		writeError(w, http.StatusTooManyRequests, "too many browser calls at once: hang one up, or wait for one to time out")
		return
	case errors.Is(err, errClosed):
		writeError(w, http.StatusServiceUnavailable, "the demo is shutting down")
		return
	case err != nil:
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "phone dial failed")
		writeError(w, http.StatusBadGateway, "the call could not be placed")
		return
	}
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	v := s.render(c, turn)
	s.readState(ctx, c, v)
	if turn.Ended {
		// The gateway refused the call (a wrong token, say): over at once.
		s.finish(ctx, c, v)
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) handleStep(w http.ResponseWriter, r *http.Request, body []byte) {
	line, err := parseStep(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), errBadStep.Error()+": "))
		return
	}
	c := s.lookup(r.PathValue("id"))
	if c == nil {
		writeError(w, http.StatusNotFound, "no such call: it has ended (or idled out)")
		return
	}
	if !c.mu.TryLock() {
		writeError(w, http.StatusConflict, "the call is busy with the previous step")
		return
	}
	defer c.mu.Unlock()
	if c.done {
		writeError(w, http.StatusNotFound, "no such call: it has ended (or idled out)")
		return
	}
	v, err := s.step(c, line)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "phone step failed", slog.String("call_sid", c.call.Sid()))
		writeError(w, http.StatusBadGateway, "the call failed; it has been hung up")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// retryAfter is a Retry-After value in seconds.
func retryAfter(d time.Duration) string { return strconv.Itoa(max(1, int(d.Seconds()))) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
