// Package pkgdoc holds repository-wide checks that run as tests: every
// package says what it is for in a doc comment.
package pkgdoc
