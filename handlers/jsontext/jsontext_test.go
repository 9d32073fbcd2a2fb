package jsontext

import "testing"

func TestLoneSurrogate(t *testing.T) {
	for _, c := range []struct {
		text string
		lone bool
	}{
		{`"plain"`, false},
		{`"\u00e9 \n \" \\"`, false},
		{`"\ud83d\ude00"`, false},        // a pair
		{`"\\ud800"`, false},             // an escaped backslash, then text
		{`"\\\ud83d\ude00"`, false},      // an escaped backslash, then a pair
		{`{"a": "\uD83D\uDE00"}`, false}, // upper-case hex
		{`"\ud800"`, true},
		{`"\udc00"`, true},
		{`"\ude00\ud83d"`, true},   // the halves reversed
		{`"\ud83d\u0041"`, true},   // a high half before another character
		{`"\ud83d\ud83d"`, true},   // two high halves
		{`"\ud83d x\ude00"`, true}, // not at once
		{`"\\\ud800"`, true},
		{`"\ud83d`, true}, // the document ends
	} {
		if got := LoneSurrogate([]byte(c.text)); got != c.lone {
			t.Errorf("LoneSurrogate(%s) = %v, want %v", c.text, got, c.lone)
		}
	}
}
