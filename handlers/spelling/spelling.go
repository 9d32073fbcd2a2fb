// Package spelling finds the name a client most likely meant when it sent one the service does not know,
// for the "did you mean" of an error message.
package spelling

import (
	"strings"
	"unicode/utf8"
)

// maxWordBytes bounds the work of one comparison: a longer word is no slip of a name the service knows.
const maxWordBytes = 64

// Nearest returns the candidate word most likely stands for: one that differs only in letter case, else
// the closest within a small edit distance (a letter missing, added, changed, or two swapped; one such
// edit per four letters). It returns "" when no candidate is that close, or when word is one of them.
func Nearest(word string, candidates []string) string {
	if len(word) > maxWordBytes || !utf8.ValidString(word) {
		return ""
	}
	for _, c := range candidates {
		if c == word {
			return ""
		}
	}
	for _, c := range candidates {
		if strings.EqualFold(c, word) {
			return c
		}
	}
	lower := []rune(strings.ToLower(word))
	best, bestDistance := "", 0
	for _, c := range candidates {
		limit := max(1, min(len(lower), utf8.RuneCountInString(c))/4)
		if d := distance(lower, []rune(strings.ToLower(c))); d <= limit && (best == "" || d < bestDistance) {
			best, bestDistance = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance of a and b: the insertions, deletions, substitutions
// and transpositions of adjacent letters that turn one into the other.
func distance(a, b []rune) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
