package main

// Subcommands of the compiler's front half: check, fmt, dump, explain, eval-loss.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/realc-project/realc/compiler"
	"github.com/realc-project/realc/dsl"
)

func init() {
	register("check", "parse and check recipes: realc check recipes/*.rl", runCheck)
	register("fmt", "print a recipe in canonical form (-w rewrites the files)", runFmt)
	register("dump", "print a recipe's IR after a pass: realc dump [--pass NAME] recipe.rl", runDump)
	register("explain", "print a recipe's stages, values and the derivative of its loss", runExplain)
	register("eval-loss", "evaluate a recipe on a JSON batch in float64: realc eval-loss RECIPE --batch FILE.json", runEvalLoss)
}

func newFlags(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: realc %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses flags placed before or after the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// compileFile compiles a recipe and prints its warnings to stderr.
func compileFile(path string, stderr io.Writer) (*compiler.Program, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	prog, err := compiler.Compile(path, src)
	if err != nil {
		return nil, err
	}
	printWarnings(stderr, prog)
	return prog, nil
}

// printWarnings prints a program's warnings (the recipe compiles, but
// probably not as meant), one diagnostic after another.
func printWarnings(stderr io.Writer, prog *compiler.Program) {
	for _, w := range prog.Warnings {
		fmt.Fprintln(stderr, w)
	}
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", stderr, "check RECIPE.rl ...")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("check needs at least one recipe file")
	}
	bad := 0
	for _, f := range files {
		if _, err := compileFile(f, stderr); err != nil {
			fmt.Fprintln(stderr, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d recipes have errors", bad, len(files))
	}
	return nil
}

func runFmt(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fmt", stderr, "fmt [-w] [-l] RECIPE.rl ...")
	write := fs.Bool("w", false, "write the canonical form back to each file")
	list := fs.Bool("l", false, "list the files whose formatting differs")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("fmt needs at least one recipe file")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		out, err := compiler.Format(f, src)
		if err != nil {
			return err
		}
		switch {
		case *list:
			if !bytes.Equal(src, out) {
				fmt.Fprintln(stdout, f)
			}
		case *write:
			if !bytes.Equal(src, out) {
				if err := os.WriteFile(f, out, 0o644); err != nil {
					return err
				}
			}
		default:
			stdout.Write(out)
		}
	}
	return nil
}

func runDump(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dump", stderr, "dump [--pass NAME] RECIPE.rl  (passes: "+strings.Join(compiler.PassNames(), ", ")+")")
	pass := fs.String("pass", "", "stop after this pass (default: all)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("dump needs one recipe file")
	}
	src, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	prog, err := compiler.CompileUpTo(files[0], src, *pass)
	if err != nil {
		if _, ok := err.(dsl.ErrorList); !ok && *pass != "" {
			return usagef("%v", err)
		}
		return err
	}
	printWarnings(stderr, prog)
	io.WriteString(stdout, compiler.Dump(prog))
	return nil
}

func runExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr, "explain RECIPE.rl")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return usagef("explain needs one recipe file")
	}
	prog, err := compileFile(files[0], stderr)
	if err != nil {
		return err
	}
	io.WriteString(stdout, compiler.Explain(prog))
	return nil
}

// hyperFlags collects repeated --hyper NAME=VALUE.
type hyperFlags map[string]float64

func (h hyperFlags) String() string { return fmt.Sprint(map[string]float64(h)) }

func (h hyperFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return fmt.Errorf("%s: %q is not a number", k, v)
	}
	h[k] = f
	return nil
}

func runEvalLoss(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval-loss", stderr, "eval-loss RECIPE.rl --batch FILE.json [--hyper NAME=VALUE ...]")
	batchPath := fs.String("batch", "", "the batch JSON (see compiler.Batch)")
	hyper := hyperFlags{}
	fs.Var(hyper, "hyper", "override a hyperparameter, NAME=VALUE (repeatable)")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 || *batchPath == "" {
		return usagef("eval-loss needs one recipe and --batch FILE.json")
	}
	prog, err := compileFile(files[0], stderr)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*batchPath)
	if err != nil {
		return err
	}
	b, err := compiler.ParseBatch(data)
	if err != nil {
		return fmt.Errorf("%s: %v", *batchPath, err)
	}
	res, err := compiler.Eval(prog, b, hyper)
	if err != nil {
		return fmt.Errorf("%s: %v", *batchPath, err)
	}
	out := map[string]any{
		"rewards":    nanToNull(res.Rewards),
		"advantages": nanToNull(res.Advantages),
		"kept":       res.Kept,
		"loss":       res.Loss,
		"grad":       map[string]any{"logits": res.GradLogits, "score_logits": res.GradScoreLogits},
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(out)
}

// nanToNull maps NaN (a reward of a response without a score) to JSON null.
func nanToNull(m map[string][]float64) map[string][]*float64 {
	out := map[string][]*float64{}
	for k, xs := range m {
		row := make([]*float64, len(xs))
		for i := range xs {
			if !math.IsNaN(xs[i]) && !math.IsInf(xs[i], 0) {
				row[i] = &xs[i]
			}
		}
		out[k] = row
	}
	return out
}
