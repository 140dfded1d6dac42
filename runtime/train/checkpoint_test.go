package train

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
)

// ckptFiles builds the files of a checkpoint of m: Adam moments derived from
// the parameters and seed (a NaN and an Inf among them, which must survive
// too), and a JSON state naming the step.
func ckptFiles(t testing.TB, m *model.Model, step int) CheckpointFiles {
	t.Helper()
	var ts []safetensors.Tensor
	for i, p := range m.Params() {
		a := make([]float32, len(p.Data))
		b := make([]float32, len(p.Data))
		for k, v := range p.Data {
			a[k] = v*0.5 + float32(step)
			b[k] = v * v
		}
		if i == 0 {
			a[0] = float32(math.NaN())
			b[1] = float32(math.Inf(-1))
		}
		for _, x := range []struct {
			name string
			data []float32
		}{{"exp_avg." + p.Name, a}, {"exp_avg_sq." + p.Name, b}} {
			tt, err := safetensors.FromFloat32(x.name, p.Shape, x.data, safetensors.F32)
			if err != nil {
				t.Fatal(err)
			}
			ts = append(ts, tt)
		}
	}
	return CheckpointFiles{Model: m, Tensors: ts, State: []byte(fmt.Sprintf(`{"step": %d}`, step) + "\n")}
}

// sameParams fails unless a and b have the same parameters bit for bit (NaN
// included: bits, not ==).
func sameParams(t testing.TB, a, b *model.Model) {
	t.Helper()
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) {
		t.Fatalf("%d parameter tensors, want %d", len(pb), len(pa))
	}
	for i := range pa {
		if pa[i].Name != pb[i].Name || !slices.Equal(pa[i].Shape, pb[i].Shape) {
			t.Fatalf("parameter %d is %s %v, want %s %v", i, pb[i].Name, pb[i].Shape, pa[i].Name, pa[i].Shape)
		}
		if len(pa[i].Data) != len(pb[i].Data) {
			t.Fatalf("%s: %d values, want %d", pa[i].Name, len(pb[i].Data), len(pa[i].Data))
		}
		for k := range pa[i].Data {
			if math.Float32bits(pa[i].Data[k]) != math.Float32bits(pb[i].Data[k]) {
				t.Fatalf("%s[%d] = %v, want %v (bits differ)", pa[i].Name, k, pb[i].Data[k], pa[i].Data[k])
			}
		}
	}
}

// sameTensors fails unless got holds exactly the tensors of want, bit for bit.
func sameTensors(t testing.TB, want []safetensors.Tensor, got map[string][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d optimizer tensors, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok {
			t.Fatalf("optimizer tensor %s is missing", w.Name)
		}
		if len(g)*4 != len(w.Data) {
			t.Fatalf("%s: %d values, want %d", w.Name, len(g), len(w.Data)/4)
		}
		for k, v := range g {
			wb := uint32(w.Data[4*k]) | uint32(w.Data[4*k+1])<<8 | uint32(w.Data[4*k+2])<<16 | uint32(w.Data[4*k+3])<<24
			if math.Float32bits(v) != wb {
				t.Fatalf("%s[%d] = %v, want %v (bits differ)", w.Name, k, v, math.Float32frombits(wb))
			}
		}
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	for _, shard := range []int64{0, 20_000} { // one file; several shards and an index
		t.Run(fmt.Sprint("shard", shard), func(t *testing.T) {
			out := t.TempDir()
			src := t.TempDir()
			for _, name := range []string{"tokenizer.json", "chat_template.jinja", "generation_config.json"} {
				body := `{"x": "` + name + `"}`
				if name == "generation_config.json" {
					body = `{"eos_token_id": [63, 7]}`
				}
				if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			m := model.NewTinyQwen3(64, 7)
			f := ckptFiles(t, m, 5)
			f.CopyFrom, f.MaxShardSize = src, shard
			dir, err := SaveCheckpoint(out, 5, f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(out, "step-5"); dir != want {
				t.Fatalf("SaveCheckpoint returned %s, want %s", dir, want)
			}
			if shard > 0 {
				if _, err := os.Stat(filepath.Join(dir, safetensors.IndexName)); err != nil {
					t.Fatalf("a sharded save has no index: %v", err)
				}
			}
			for _, name := range []string{"tokenizer.json", "chat_template.jinja", "generation_config.json"} {
				got, err := os.ReadFile(filepath.Join(dir, name))
				want, _ := os.ReadFile(filepath.Join(src, name))
				if err != nil || string(got) != string(want) {
					t.Fatalf("%s not copied: %q, %v", name, got, err)
				}
			}
			ld, err := LoadCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			if ld.Step != 5 || ld.Dir != dir {
				t.Fatalf("loaded step %d dir %s, want 5 %s", ld.Step, ld.Dir, dir)
			}
			sameParams(t, m, ld.Model)
			sameTensors(t, f.Tensors, ld.Tensors)
			if string(ld.State) != string(f.State) {
				t.Fatalf("state %q, want %q", ld.State, f.State)
			}
			if !slices.Contains(ld.Model.Cfg.EOS, 7) {
				t.Fatalf("EOS %v lacks generation_config.json's 7", ld.Model.Cfg.EOS)
			}
			// COMPLETE lists every file of the folder.
			var mk completeMarker
			data, err := os.ReadFile(filepath.Join(dir, "COMPLETE"))
			if err != nil || json.Unmarshal(data, &mk) != nil {
				t.Fatalf("COMPLETE: %v %s", err, data)
			}
			ents, _ := os.ReadDir(dir)
			if len(mk.Files) != len(ents)-1 {
				t.Fatalf("COMPLETE lists %d files, the folder has %d besides it", len(mk.Files), len(ents)-1)
			}
			d, s, err := LatestCheckpoint(out)
			if err != nil || d != dir || s != 5 {
				t.Fatalf("LatestCheckpoint = %s %d %v, want %s 5", d, s, err, dir)
			}

			// A diverged model (NaN) is refused: LoadHF could never read it back.
			m.Layers[1].Up[2] = float32(math.NaN())
			if _, err := SaveCheckpoint(out, 6, ckptFiles(t, m, 6), 0); err == nil || !strings.Contains(err.Error(), "model.layers.1.mlp.up_proj.weight") {
				t.Fatalf("saving a model with a NaN: %v", err)
			}
			if d, s, _ := LatestCheckpoint(out); d != dir || s != 5 {
				t.Fatalf("after a refused save LatestCheckpoint = %s %d, want %s 5", d, s, dir)
			}
		})
	}
}

func TestCheckpointKeepAndLatest(t *testing.T) {
	out := t.TempDir()
	if d, s, err := LatestCheckpoint(filepath.Join(out, "none")); d != "" || s != 0 || err != nil {
		t.Fatalf("LatestCheckpoint of a missing folder = %q %d %v", d, s, err)
	}
	m := model.NewTinyQwen3(64, 1)
	for step := 1; step <= 4; step++ {
		m.Embed[0] = float32(step)
		if _, err := SaveCheckpoint(out, step, ckptFiles(t, m, step), 2); err != nil {
			t.Fatal(err)
		}
	}
	steps, err := Checkpoints(out)
	if err != nil || !slices.Equal(steps, []int{3, 4}) {
		t.Fatalf("Checkpoints = %v %v, want [3 4]", steps, err)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"latest", "step-3", "step-4"}) {
		t.Fatalf("OUT holds %v, want [latest step-3 step-4]", names)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "latest")); string(b) != "step-4\n" {
		t.Fatalf("latest = %q, want \"step-4\\n\"", b)
	}
	d, s, err := LatestCheckpoint(out)
	if err != nil || s != 4 || d != filepath.Join(out, "step-4") {
		t.Fatalf("LatestCheckpoint = %s %d %v, want step-4", d, s, err)
	}

	// A resume from step 3 that saves step 4 again replaces it; latest names the new one.
	m.Embed[0] = 44
	if _, err := SaveCheckpoint(out, 4, ckptFiles(t, m, 4), 2); err != nil {
		t.Fatal(err)
	}
	ld, err := LoadCheckpoint(filepath.Join(out, "step-4"))
	if err != nil || ld.Model.Embed[0] != 44 {
		t.Fatalf("replaced step-4: %v", err)
	}
	// latest wins over a higher step left by the abandoned run, and the new save is never pruned.
	m.Embed[0] = 9
	if _, err := SaveCheckpoint(out, 9, ckptFiles(t, m, 9), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := SaveCheckpoint(out, 5, ckptFiles(t, m, 5), 2); err != nil {
		t.Fatal(err)
	}
	if d, s, _ := LatestCheckpoint(out); s != 5 || d != filepath.Join(out, "step-5") {
		t.Fatalf("LatestCheckpoint = %s %d, want step-5 (named by latest)", d, s)
	}
	if steps, _ := Checkpoints(out); !slices.Equal(steps, []int{5, 9}) {
		t.Fatalf("Checkpoints = %v, want [5 9]", steps)
	}
	// latest naming a folder that is not complete is not followed.
	os.WriteFile(filepath.Join(out, "latest"), []byte("step-77\n"), 0o644)
	if _, s, _ := LatestCheckpoint(out); s != 9 {
		t.Fatalf("LatestCheckpoint with a dangling latest = %d, want 9", s)
	}
}

func TestCheckpointDamaged(t *testing.T) {
	cases := []struct {
		file   string
		damage func(path string) error
		want   string
		stale  bool // Checkpoints no longer lists the damaged one (size or file changed)
	}{
		{"model.safetensors", func(p string) error {
			fh, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer fh.Close()
			st, _ := fh.Stat()
			_, err = fh.WriteAt([]byte("\xde\xad\xbe\xef\xde\xad\xbe\xef"), st.Size()/2)
			return err
		}, "is damaged", false},
		{"trainer_state.safetensors", func(p string) error {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, st.Size()/3)
		}, "is truncated", true},
		{"config.json", os.Remove, "is missing", true},
		{"COMPLETE", func(p string) error { return os.WriteFile(p, []byte(`[{"name": `), 0o644) }, "is damaged", true},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			out := t.TempDir()
			m := model.NewTinyQwen3(64, 3)
			for step := 1; step <= 2; step++ {
				if _, err := SaveCheckpoint(out, step, ckptFiles(t, m, step), 0); err != nil {
					t.Fatal(err)
				}
			}
			newest := filepath.Join(out, "step-2")
			path := filepath.Join(newest, c.file)
			if err := c.damage(path); err != nil {
				t.Fatal(err)
			}
			ld, err := LoadCheckpoint(newest)
			if err == nil {
				t.Fatalf("LoadCheckpoint of a checkpoint with %s damaged succeeded (step %d)", c.file, ld.Step)
			}
			prev := filepath.Join(out, "step-1")
			for _, want := range []string{path, c.want, "previous complete checkpoint is " + prev, "--resume " + prev} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			d, _, _ := LatestCheckpoint(out)
			if c.stale != (d == prev) {
				t.Errorf("LatestCheckpoint = %s after damaging %s", d, c.file)
			}
			if _, err := LoadCheckpoint(prev); err != nil {
				t.Errorf("the previous checkpoint does not load: %v", err)
			}
			// The oldest has no previous one, and says so.
			os.Remove(filepath.Join(prev, "trainer_state.json"))
			if _, err := LoadCheckpoint(prev); err == nil || !strings.Contains(err.Error(), "no older complete checkpoint") {
				t.Errorf("damaged step-1: %v", err)
			}
		})
	}
}

// TestCheckpointLeftovers: a killed writer's temporary folder is never
// listed, and the next save removes it; a replacement interrupted between its
// renames is undone.
func TestCheckpointLeftovers(t *testing.T) {
	out := t.TempDir()
	m := model.NewTinyQwen3(64, 2)
	if _, err := SaveCheckpoint(out, 1, ckptFiles(t, m, 1), 0); err != nil {
		t.Fatal(err)
	}
	// A complete but never renamed save of step 2 by a dead process, and an
	// old step-1 moved aside by it.
	dead := deadPID(t)
	tmp := filepath.Join(out, fmt.Sprintf(".step-2.tmp-%d", dead))
	if err := writeCheckpointDir(tmp, 2, ckptFiles(t, m, 2)); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(out, "step-1"), filepath.Join(out, fmt.Sprintf(".step-1.old-%d", dead))); err != nil {
		t.Fatal(err)
	}
	if steps, _ := Checkpoints(out); len(steps) != 0 {
		t.Fatalf("Checkpoints lists %v from leftovers", steps)
	}
	if _, err := SaveCheckpoint(out, 3, ckptFiles(t, m, 3), 0); err != nil {
		t.Fatal(err)
	}
	if steps, _ := Checkpoints(out); !slices.Equal(steps, []int{1, 3}) {
		t.Fatalf("Checkpoints = %v, want [1 3] (step-1 restored, the unfinished step-2 dropped)", steps)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Fatalf("%s was not removed", tmp)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

const helperEnv = "REALC_CHECKPOINT_HELPER_OUT"

// killModel is large enough (about 1.6M parameters, 20 MB a checkpoint with
// its optimizer state) that a save takes long enough to be killed midway.
func killModel(t testing.TB, step int) *model.Model {
	cfg := model.TinyQwen3Config(4096)
	cfg.Dim, cfg.Hidden, cfg.HeadDim = 256, 512, 64
	m, err := model.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.InitRandom(11, 0.02)
	m.Embed[0] = float32(step) // which save this is
	return m
}

// TestHelperCheckpointWriter is the child of TestCheckpointKill: it saves
// checkpoints in a loop until it is killed.
func TestHelperCheckpointWriter(t *testing.T) {
	out := os.Getenv(helperEnv)
	if out == "" {
		t.Skip("the child process of TestCheckpointKill")
	}
	_, step, err := LatestCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	m := killModel(t, 0)
	deadline := time.Now().Add(20 * time.Second) // never outlive a dead parent for long
	for i := 0; time.Now().Before(deadline); i++ {
		step++
		m.Embed[0] = float32(step)
		if _, err := SaveCheckpoint(out, step, ckptFiles(t, m, step), 3); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			// The first save of a process is the slowest (page faults, a
			// growing heap); the kill is timed from here, to land in the
			// saves after it.
			fmt.Println("ready")
		}
	}
}

// TestCheckpointKill kills a writer with SIGKILL at random moments (5-200 ms
// after its first save, in five rounds) and checks that the latest checkpoint
// always loads, that every step-N folder is complete and loads, and that the
// next save removes what the killed writers left.
func TestCheckpointKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts writer processes")
	}
	out := t.TempDir()
	if _, err := SaveCheckpoint(out, 1, ckptFiles(t, killModel(t, 1), 1), 3); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	leftovers := 0
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCheckpointWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+out)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			rest, _ := io.ReadAll(br)
			cmd.Wait()
			t.Fatalf("round %d: the writer failed (%v): %s%s", round, err, line, rest)
		}
		delay := time.Duration(5+r.IntN(196)) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		cmd.Wait()
		if len(rest) > 0 {
			t.Logf("round %d: the writer said %s", round, rest)
		}

		ents, _ := os.ReadDir(out)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
			if strings.HasPrefix(e.Name(), ".") {
				leftovers++
			}
		}
		// Every step-N folder is complete: the rename happens only after COMPLETE.
		steps, err := Checkpoints(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if s, ok := parseStepDir(n); ok && !slices.Contains(steps, s) {
				t.Fatalf("round %d (killed after %v): %s is not complete; OUT holds %v", round, delay, n, names)
			}
		}
		for _, s := range steps {
			ld, err := LoadCheckpoint(filepath.Join(out, stepDirName(s)))
			if err != nil {
				t.Fatalf("round %d (killed after %v): a checkpoint listed as complete does not load: %v", round, delay, err)
			}
			if ld.Step != s || ld.Model.Embed[0] != float32(s) || string(ld.State) != fmt.Sprintf(`{"step": %d}`, s)+"\n" {
				t.Fatalf("round %d: step-%d holds step %d, model of step %v, state %q", round, s, ld.Step, ld.Model.Embed[0], ld.State)
			}
			if v := ld.Tensors["exp_avg.model.embed_tokens.weight"]; len(v) == 0 || !math.IsNaN(float64(v[0])) {
				t.Fatalf("round %d: step-%d lost the NaN of its optimizer state", round, s)
			}
		}
		d, s, err := LatestCheckpoint(out)
		if err != nil || d == "" {
			t.Fatalf("round %d: LatestCheckpoint = %q %d %v", round, d, s, err)
		}
		ld, err := LoadCheckpoint(d)
		if err != nil {
			t.Fatalf("round %d (killed after %v): the latest checkpoint does not load: %v", round, delay, err)
		}
		sameParams(t, killModel(t, s), ld.Model)
		t.Logf("round %d: killed after %v; latest step-%d; OUT holds %v", round, delay, s, names)
	}
	t.Logf("%d leftovers of killed saves seen", leftovers)
	// The next save removes what the killed writers left.
	_, s, _ := LatestCheckpoint(out)
	if _, err := SaveCheckpoint(out, s+1, ckptFiles(t, killModel(t, s+1), s+1), 3); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover %s after a save", e.Name())
		}
	}
	if steps, _ := Checkpoints(out); len(steps) != 3 || steps[2] != s+1 {
		t.Errorf("Checkpoints = %v, want 3 ending in %d", steps, s+1)
	}
}
