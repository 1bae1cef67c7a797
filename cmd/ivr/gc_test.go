package main

import "testing"

func TestGCPercent(t *testing.T) {
	tests := []struct {
		args   []string
		gogc   string
		want   int
		wantOK bool
	}{
		{[]string{"serve"}, "", serverGCPercent, true},
		{[]string{"authserver", "-addr", "127.0.0.1:0"}, "", serverGCPercent, true},
		{[]string{"demo"}, "", serverGCPercent, true},
		{[]string{"mcp"}, "", serverGCPercent, true},
		{[]string{"serve"}, "100", 0, false}, // the operator's GOGC stands
		{[]string{"serve"}, "off", 0, false},
		{[]string{"call"}, "", 0, false}, // a tool: Go's default
		{[]string{"flow"}, "", 0, false},
		{nil, "", 0, false},
	}
	for _, tt := range tests {
		got, ok := gcPercent(tt.args, func(k string) string {
			if k == "GOGC" {
				return tt.gogc
			}
			return ""
		})
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("gcPercent(%q, GOGC=%q) = %d, %v; want %d, %v", tt.args, tt.gogc, got, ok, tt.want, tt.wantOK)
		}
	}
}
