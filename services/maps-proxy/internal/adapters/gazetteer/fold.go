package gazetteer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// fold turns text into the form names are compared in: lower case, without
// diacritics, and with German umlauts' transliterations merged into the plain vowel,
// so that "Schöneberg", "Schoeneberg" and "schoneberg" are the same word. Anything
// but letters and digits separates words, except apostrophes ("Ku'damm" is one word).
func fold(s string) []string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r), r == '\'', r == '’':
			// combining marks (the diaeresis of ö after NFD) and apostrophes vanish
		case r == 'ß' || r == 'ẞ':
			b.WriteString("ss")
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteByte(' ')
		}
	}
	words := strings.Fields(b.String())
	for i, w := range words {
		words[i] = mergeDigraphs(w)
	}
	return words
}

// mergeDigraphs drops the e of ae, oe and ue: ö is written oe without the key for it.
// Applied to names and queries alike, it also maps words that merely contain such a
// pair consistently ("museum" stays as it is; "israel" becomes "isral" on both sides).
func mergeDigraphs(w string) string {
	if !strings.Contains(w, "e") {
		return w
	}
	b := make([]byte, 0, len(w))
	for i := 0; i < len(w); i++ {
		c := w[i]
		b = append(b, c)
		if (c == 'a' || c == 'o' || c == 'u') && i+1 < len(w) && w[i+1] == 'e' {
			i++
		}
	}
	return string(b)
}
