// Package numtest compares floating-point results in tests so that a NaN or
// an infinity cannot pass.
//
// The comparison every test writes by hand, `if math.Abs(got-want) > tol {
// fail }`, is false when got is NaN (every comparison with NaN is false), so
// a kernel that returns NaN passes it; `worst = max(worst, d)` followed by
// `worst > tol` has the same hole, and `if d > worst { worst = d }` drops a
// NaN d altogether. The helpers here measure a difference as +Inf whenever
// either side is not finite, unless both sides are the same non-finite value
// (both NaN, or the same infinity: a reference that is itself -Inf at a
// masked position may expect -Inf), and test tolerances in the form
// !(d <= tol), which fails on NaN too.
package numtest

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
)

// Float is the element type the helpers accept; got and want may differ
// (float32 kernels against float64 references).
type Float interface{ ~float32 | ~float64 }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// sameNonFinite reports whether a and b are both NaN or the same infinity.
func sameNonFinite(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.IsInf(a, 0) && a == b
}

// Diff returns |got - want|: 0 when both are the same non-finite value (both
// NaN, or the same infinity), +Inf when either is otherwise NaN or infinite.
func Diff[T, U Float](got T, want U) float64 {
	g, w := float64(got), float64(want)
	if finite(g) && finite(w) {
		return math.Abs(g - w)
	}
	if sameNonFinite(g, w) {
		return 0
	}
	return math.Inf(1)
}

// Exceeds reports whether d is not within tol: d > tol, or either is NaN.
// Use it where a test computes its own measure of error.
func Exceeds(d, tol float64) bool { return !(d <= tol) }

// Within reports whether |got - want| <= atol + rtol*|want| under the
// non-finite rule of Diff (the same non-finite value on both sides is
// within any tolerance; one non-finite side is within none).
func Within[T, U Float](got T, want U, atol, rtol float64) bool {
	d := Diff(got, want)
	if d == 0 {
		return true
	}
	if math.IsInf(d, 1) { // a non-finite side, even against an infinite tolerance
		return false
	}
	return !Exceeds(d, atol+rtol*math.Abs(float64(want)))
}

// Close reports whether got is Within atol + rtol*|want| of want, and
// otherwise reports the mismatch with t.Errorf (what names the value).
func Close[T, U Float](t testing.TB, what string, got T, want U, atol, rtol float64) bool {
	t.Helper()
	if Within(got, want, atol, rtol) {
		return true
	}
	t.Errorf("%s = %.9g, want %.9g (|diff| %.3g > atol %.3g + rtol %.3g * |want|)", what, float64(got), float64(want), Diff(got, want), atol, rtol)
	return false
}

// MaxAbsDiff returns the largest Diff between a[i] and b[i]: +Inf when the
// lengths differ or some pair has a non-finite side that the other does not
// share.
func MaxAbsDiff[T, U Float](a []T, b []U) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		worst = max(worst, Diff(a[i], b[i]))
	}
	return worst
}

// MaxRelDiff returns the largest Diff(a[i], b[i]) / max(floor, |b[i]|), with
// the same non-finite rule as MaxAbsDiff (floor > 0 keeps entries near zero
// on an absolute scale).
func MaxRelDiff[T, U Float](a []T, b []U, floor float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	worst := 0.0
	for i := range a {
		d := Diff(a[i], b[i])
		if d == 0 {
			continue
		}
		worst = max(worst, d/max(floor, math.Abs(float64(b[i]))))
	}
	return worst
}

// MaxAbs returns the largest |x| over xs; +Inf if some x is NaN or infinite
// (a scale derived from a non-finite reference must not loosen a tolerance
// silently: with +Inf every comparison against it fails in Within).
func MaxAbs[T Float](xs []T) float64 {
	m := 0.0
	for _, x := range xs {
		v := float64(x)
		if !finite(v) {
			return math.Inf(1)
		}
		m = max(m, math.Abs(v))
	}
	return m
}

// AllClose reports whether got and want have the same length and every
// got[i] is Within atol + rtol*|want[i]| of want[i]. Otherwise it reports,
// with one t.Errorf, how many entries differ, the first few of them and the
// worst.
func AllClose[T, U Float](t testing.TB, what string, got []T, want []U, atol, rtol float64) bool {
	t.Helper()
	if msg := mismatch(got, want, atol, rtol); msg != "" {
		t.Errorf("%s: %s", what, msg)
		return false
	}
	return true
}

// mismatch describes how got and want differ, or returns "".
func mismatch[T, U Float](got []T, want []U, atol, rtol float64) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, want %d", len(got), len(want))
	}
	var b strings.Builder
	bad, worst, worstAt := 0, -1.0, -1
	for i := range want {
		if Within(got[i], want[i], atol, rtol) {
			continue
		}
		if bad < 5 {
			fmt.Fprintf(&b, "\n\t[%d] = %.9g, want %.9g", i, float64(got[i]), float64(want[i]))
		}
		bad++
		if d := Diff(got[i], want[i]); !(d <= worst) {
			worst, worstAt = d, i
		}
	}
	if bad == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d values differ (atol %.3g, rtol %.3g); worst |diff| %.3g at [%d]%s",
		bad, len(want), atol, rtol, worst, worstAt, b.String())
}

// AllFinite reports whether every x is finite, and otherwise reports the
// first NaN or infinity with t.Errorf.
func AllFinite[T Float](t testing.TB, what string, xs []T) bool {
	t.Helper()
	if i := FirstNonFinite(xs); i >= 0 {
		t.Errorf("%s[%d] = %v, want a finite value", what, i, float64(xs[i]))
		return false
	}
	return true
}

// FirstNonFinite returns the index of the first NaN or infinity in xs, or -1.
func FirstNonFinite[T Float](xs []T) int {
	for i, x := range xs {
		if !finite(float64(x)) {
			return i
		}
	}
	return -1
}

// Recorder is a testing.TB that records what the helpers report instead of
// failing: a test runs its checks on a Recorder to learn whether they would
// fail (a known bug, written down as an expected failure that must start
// failing the test once it is fixed, so that it is not forgotten). Only
// Helper, Log, Logf, Error, Errorf, Fatal, Fatalf and FailNow may be called
// (the last three end the calling goroutine, as in testing: run the check on
// its own goroutine, as ExpectFailure does); any other method panics.
type Recorder struct {
	testing.TB
	Msgs []string
}

func (r *Recorder) Helper()                         {}
func (r *Recorder) Log(args ...any)                 {}
func (r *Recorder) Logf(format string, args ...any) {}
func (r *Recorder) Error(args ...any)               { r.Msgs = append(r.Msgs, fmt.Sprint(args...)) }
func (r *Recorder) Errorf(format string, args ...any) {
	r.Msgs = append(r.Msgs, fmt.Sprintf(format, args...))
}
func (r *Recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *Recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *Recorder) FailNow()                          { r.Msgs = append(r.Msgs, "FailNow"); runtime.Goexit() }

// Failed reports whether anything was recorded.
func (r *Recorder) Failed() bool { return len(r.Msgs) > 0 }

// ExpectFailure runs check on a Recorder and reports on t: with t.Logf when
// check fails (the known bug is still there; why says what it is), with
// t.Errorf when it passes (the bug is gone: remove the expectation so the
// check guards the fix).
func ExpectFailure(t testing.TB, what, why string, check func(tb testing.TB)) {
	t.Helper()
	r := &Recorder{}
	done := make(chan struct{})
	go func() { // Fatal ends this goroutine only
		defer close(done)
		check(r)
	}()
	<-done
	if !r.Failed() {
		t.Errorf("%s: passes now, but is listed as a known failure (%s): remove it from the list", what, why)
		return
	}
	first := r.Msgs[0]
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	t.Logf("%s: known failure (%s); %d reports, the first: %s", what, why, len(r.Msgs), first)
}
