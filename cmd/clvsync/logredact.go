package main

import (
	"context"
	"log/slog"
	"strings"
)

// redactHandler is a slog.Handler that replaces every occurrence of a secret
// in messages and attribute values (errors and other values included) before
// the record reaches the wrapped handler. The hubspot client already keeps
// the token out of its own lines and errors; this is the second line of
// defence, so that no code path can log the token at any level.
type redactHandler struct {
	next slog.Handler
	r    *strings.Replacer
	// secret is kept to check strings cheaply before replacing.
	secret string
}

// redactLogger returns a logger that never writes secret. An empty secret
// returns l unchanged.
func redactLogger(l *slog.Logger, secret string) *slog.Logger {
	if strings.TrimSpace(secret) == "" {
		return l
	}
	return slog.New(&redactHandler{next: l.Handler(), r: strings.NewReplacer(secret, "[REDACTED]"), secret: secret})
}

// Enabled reports whether the wrapped handler handles level.
func (h *redactHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle redacts the record's message and attributes and passes it on.
func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.str(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs redacts attrs and returns a handler that adds them.
func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &redactHandler{next: h.next.WithAttrs(red), r: h.r, secret: h.secret}
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{next: h.next.WithGroup(h.str(name)), r: h.r, secret: h.secret}
}

func (h *redactHandler) str(s string) string {
	if !strings.Contains(s, h.secret) {
		return s
	}
	return h.r.Replace(s)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	a.Key = h.str(a.Key)
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(h.str(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, ga := range g {
			red[i] = h.attr(ga)
		}
		a.Value = slog.GroupValue(red...)
	case slog.KindAny:
		// Errors, structs, maps, byte slices: render once and redact the
		// text. Values that do not contain the secret keep their type, so
		// the JSON handler still renders them natively.
		s := v.String()
		if strings.Contains(s, h.secret) {
			a.Value = slog.StringValue(h.r.Replace(s))
		} else {
			a.Value = v
		}
	default:
		a.Value = v
	}
	return a
}
