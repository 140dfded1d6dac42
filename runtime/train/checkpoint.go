package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/realc-project/realc/runtime/model"
	"github.com/realc-project/realc/runtime/safetensors"
)

// Checkpoint layout: OUT/step-N/ is a Hugging Face folder (config.json,
// model.safetensors or shards + index, the tokenizer files copied from the
// source model folder) plus trainer_state.safetensors (optimizer tensors),
// trainer_state.json (the trainer's own JSON state) and COMPLETE, the marker
// written last that lists every file with its size and CRC-32C. OUT/latest is
// a text file naming the newest complete checkpoint ("step-N\n").
//
// A checkpoint is written in a hidden folder and renamed into place only once
// every byte of it is on disk, so that a trainer killed at any moment (out of
// memory, preempted, kill -9) leaves the previous checkpoint intact and never
// a step-N folder that looks complete but is not.
const (
	completeName     = "COMPLETE"
	latestName       = "latest"
	stateTensorsName = "trainer_state.safetensors"
	stateJSONName    = "trainer_state.json"
)

// tokenizerFiles are the files of a model folder, besides the config and the
// weights, that a checkpoint needs to be loadable on its own by transformers
// (or vLLM) and by realc's evaluation.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer_config.json", "tokenizer.model",
	"special_tokens_map.json", "generation_config.json", "chat_template.jinja",
}

// CheckpointFiles is what one checkpoint holds.
type CheckpointFiles struct {
	Model *model.Model
	// CopyFrom is the folder whose tokenizer files (tokenizer.json,
	// tokenizer_config.json, tokenizer.model, special_tokens_map.json,
	// generation_config.json, chat_template.jinja: those that exist) are
	// copied, so that the checkpoint is a usable model folder. "" or a path
	// that is not a folder copies nothing.
	CopyFrom string
	// Tensors is the optimizer state, e.g. "exp_avg.<param>" and
	// "exp_avg_sq.<param>". Store them as F32 for a bit-exact resume.
	Tensors []safetensors.Tensor
	// State is the content of trainer_state.json.
	State []byte
	// MaxShardSize is passed to SaveHFWith (0: the default, 5 GB).
	MaxShardSize int64
}

// Loaded is a checkpoint read back.
type Loaded struct {
	Dir     string
	Step    int
	Model   *model.Model
	Tensors map[string][]float32
	State   []byte
}

// completeFile is one entry of COMPLETE.
type completeFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	CRC32C string `json:"crc32c"` // 8 lower-case hex digits
}

// completeMarker is COMPLETE's content. Step is recorded so that a folder
// renamed by hand (step-7 holding step 3) is not taken for another step.
type completeMarker struct {
	Step  int            `json:"step"`
	Files []completeFile `json:"files"`
}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	stepDirRe  = regexp.MustCompile(`^step-(0|[1-9][0-9]*)$`)
	// Leftovers of a save: .step-N.tmp-PID (being written), .step-N.old-PID (a
	// same-named checkpoint being replaced), .step-N.del-PID (being pruned),
	// .latest.tmp-PID.
	leftoverRe = regexp.MustCompile(`^\.(?:step-(0|[1-9][0-9]*)\.(tmp|old|del)|latest\.tmp)-([0-9]+)$`)
)

func stepDirName(step int) string { return "step-" + strconv.Itoa(step) }

// parseStepDir returns N for a folder named step-N.
func parseStepDir(name string) (int, bool) {
	m := stepDirRe.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// SaveCheckpoint writes OUT/step-<step> atomically and returns its path.
//
// Everything is written into OUT/.step-<step>.tmp-<pid>, every file is
// fsynced, then COMPLETE (every file with its size and CRC-32C) is written
// last and the folder fsynced, before it is renamed to OUT/step-<step>. An
// older checkpoint of the same name is replaced only after the new one is
// complete. OUT/latest is then replaced atomically (temporary file, rename,
// fsync of OUT), and the complete checkpoints beyond the newest keep (keep <=
// 0: keep all) are removed, oldest first; the one just written is always
// kept, even when a resumed run left checkpoints of higher steps. Leftover
// temporary folders of a killed writer are removed first.
func SaveCheckpoint(out string, step int, f CheckpointFiles, keep int) (string, error) {
	if step < 0 {
		return "", fmt.Errorf("checkpoint in %s: step %d is negative", out, step)
	}
	if f.Model == nil {
		return "", fmt.Errorf("checkpoint %s: no model to save", filepath.Join(out, stepDirName(step)))
	}
	final := filepath.Join(out, stepDirName(step))
	for _, t := range f.Tensors {
		if t.DType != safetensors.F32 && t.DType != safetensors.BF16 && t.DType != safetensors.F16 {
			// LoadCheckpoint gives float32 values: a non-float tensor could be saved but never read back.
			return "", fmt.Errorf("checkpoint %s: optimizer tensor %q has dtype %s; only F32 (exact), BF16 or F16 can be saved", final, t.Name, t.DType)
		}
	}
	// model.LoadHF refuses a non-finite parameter: such a checkpoint could
	// never be resumed, and must not become the latest.
	for _, p := range f.Model.Params() {
		for i, v := range p.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return "", fmt.Errorf("checkpoint %s: parameter %s has a non-finite value %v at flat index %d: not saved, since it could not be loaded back; the earlier checkpoints in %s are unchanged", final, p.Name, v, i, out)
			}
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint %s: %v", final, err)
	}
	if err := cleanLeftovers(out); err != nil {
		return "", err
	}
	pid := strconv.Itoa(os.Getpid())
	tmp := filepath.Join(out, "."+stepDirName(step)+".tmp-"+pid)
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("checkpoint %s: removing %s: %v", final, tmp, err)
	}
	if err := writeCheckpointDir(tmp, step, f); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("checkpoint %s: %v (nothing saved; the previous checkpoints are unchanged)", final, err)
	}
	if err := moveIntoPlace(tmp, final, out, step, pid); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("checkpoint %s: %v", final, err)
	}
	if err := writeLatest(out, step, pid); err != nil {
		return final, fmt.Errorf("checkpoint %s is saved, but %v", final, err)
	}
	if err := prune(out, step, keep, pid); err != nil {
		return final, fmt.Errorf("checkpoint %s is saved, but removing older ones (--keep %d) failed: %v", final, keep, err)
	}
	return final, nil
}

// writeCheckpointDir fills dir with the model, the tokenizer files, the
// trainer state and, last, COMPLETE.
func writeCheckpointDir(dir string, step int, f CheckpointFiles) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// float32, so that parameters round-trip bit for bit.
	if err := f.Model.SaveHFWith(dir, model.SaveOptions{DType: safetensors.F32, MaxShardSize: f.MaxShardSize}); err != nil {
		return err
	}
	if err := copyTokenizerFiles(f.CopyFrom, dir); err != nil {
		return err
	}
	ts := f.Tensors
	if ts == nil {
		ts = []safetensors.Tensor{}
	}
	if err := safetensors.WriteFile(filepath.Join(dir, stateTensorsName), ts, safetensors.Options{}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, stateJSONName), f.State, 0o644); err != nil {
		return err
	}
	// Checksum and fsync every file in one pass (the bytes are still in the
	// page cache), so that COMPLETE never lists a file not yet on disk.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	mk := completeMarker{Step: step, Files: []completeFile{}}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", filepath.Join(dir, e.Name()))
		}
		cf, err := checksumAndSync(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		mk.Files = append(mk.Files, cf)
	}
	data, err := json.MarshalIndent(mk, "", " ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(dir, completeName), append(data, '\n')); err != nil {
		return err
	}
	return syncDir(dir)
}

// copyTokenizerFiles copies the tokenizer files that exist in from into dir.
func copyTokenizerFiles(from, dir string) error {
	if from == "" {
		return nil
	}
	if st, err := os.Stat(from); err != nil || !st.IsDir() {
		return nil // a llama2.c file or a missing folder: nothing to copy
	}
	for _, name := range tokenizerFiles {
		src := filepath.Join(from, name)
		in, err := os.Open(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("copying the tokenizer: %v", err)
		}
		err = copyInto(in, filepath.Join(dir, name))
		in.Close()
		if err != nil {
			return fmt.Errorf("copying %s: %v", src, err)
		}
	}
	return nil
}

func copyInto(in io.Reader, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// checksumAndSync reads path for its size and CRC-32C and fsyncs it.
func checksumAndSync(path string) (completeFile, error) {
	// Read-write: on some systems fsync needs a writable handle.
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return completeFile{}, err
	}
	defer fh.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, fh)
	if err != nil {
		return completeFile{}, fmt.Errorf("reading %s: %v", path, err)
	}
	if err := fh.Sync(); err != nil {
		return completeFile{}, fmt.Errorf("fsync %s: %v", path, err)
	}
	return completeFile{Name: filepath.Base(path), Size: n, CRC32C: fmt.Sprintf("%08x", h.Sum32())}, nil
}

// writeFileSync writes a new file and fsyncs it before closing.
func writeFileSync(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %v", path, err)
	}
	return nil
}

// syncDir fsyncs a folder, so that the renames and new names in it survive a
// power loss. Windows cannot fsync a folder (and does not need to).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %v", dir, err)
	}
	return nil
}

// moveIntoPlace renames the finished tmp folder to final. An existing final
// folder (an older save of the same step) is first moved aside and removed
// only once the new one is in place; a crash between the two renames leaves
// .step-N.old-PID, which the next save renames back.
func moveIntoPlace(tmp, final, out string, step int, pid string) error {
	old := ""
	if _, err := os.Lstat(final); err == nil {
		old = filepath.Join(out, "."+stepDirName(step)+".old-"+pid)
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		if err := os.Rename(final, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return err
	}
	if err := syncDir(out); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// writeLatest replaces OUT/latest atomically.
func writeLatest(out string, step int, pid string) error {
	tmp := filepath.Join(out, ".latest.tmp-"+pid)
	if err := writeFileSync(tmp, []byte(stepDirName(step)+"\n")); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(out, latestName)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("updating %s: %v", filepath.Join(out, latestName), err)
	}
	return syncDir(out)
}

// prune removes the complete checkpoints beyond the newest keep, oldest
// first, never the one just written (step). Each is renamed to a hidden name
// before it is removed, so that a crash midway never leaves a step-N folder
// with files missing.
func prune(out string, step, keep int, pid string) error {
	if keep <= 0 {
		return nil
	}
	steps, err := Checkpoints(out)
	if err != nil {
		return err
	}
	var others []int
	for _, s := range steps {
		if s != step {
			others = append(others, s)
		}
	}
	// others is ascending: the newest keep-1 of them stay.
	n := len(others) - (keep - 1)
	for _, s := range others[:max(n, 0)] {
		dir := filepath.Join(out, stepDirName(s))
		del := filepath.Join(out, "."+stepDirName(s)+".del-"+pid)
		if err := os.Rename(dir, del); err != nil {
			return err
		}
		if err := os.RemoveAll(del); err != nil {
			return err
		}
	}
	if n > 0 {
		return syncDir(out)
	}
	return nil
}

// cleanLeftovers removes what a killed writer left in out: unfinished
// .tmp folders (a save that did not reach its rename did not happen) and
// .del folders. A .old folder whose step-N is missing was being replaced
// when the writer died and is renamed back. Leftovers of a process that is
// still running (another save in progress) are left alone.
func cleanLeftovers(out string) error {
	ents, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("checkpoints in %s: %v", out, err)
	}
	self := os.Getpid()
	for _, e := range ents {
		m := leftoverRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[3])
		if err != nil || (pid != self && processAlive(pid)) {
			continue
		}
		p := filepath.Join(out, e.Name())
		if m[2] == "old" {
			final := filepath.Join(out, "step-"+m[1])
			if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) && e.IsDir() {
				if err := os.Rename(p, final); err != nil {
					return fmt.Errorf("checkpoints in %s: restoring %s: %v", out, final, err)
				}
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("checkpoints in %s: removing the leftover %s: %v", out, p, err)
		}
	}
	return nil
}

// processAlive says whether pid may be running. When it cannot tell (no
// permission, Windows) it says yes, so that nothing in use is removed.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || !(errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH))
}

// readMarker reads and checks dir's COMPLETE: every listed name is a plain
// file name, the required files are listed, and the step is the folder's when
// its name is step-N.
func readMarker(dir string) (*completeMarker, error) {
	path := filepath.Join(dir, completeName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: the save did not finish, or this is not a checkpoint written by realc", path)
	}
	if err != nil {
		return nil, err
	}
	var mk completeMarker
	if err := json.Unmarshal(data, &mk); err != nil {
		return nil, fmt.Errorf("%s is damaged: %v", path, err)
	}
	listed := map[string]bool{}
	for _, f := range mk.Files {
		if f.Name == "" || f.Name == completeName || f.Name != filepath.Base(f.Name) || strings.ContainsAny(f.Name, `/\`) || f.Name == "." || f.Name == ".." {
			return nil, fmt.Errorf("%s is damaged: it lists %q, which is not a file of the checkpoint", path, f.Name)
		}
		if f.Size < 0 || len(f.CRC32C) != 8 {
			return nil, fmt.Errorf("%s is damaged: the entry of %s has size %d and CRC-32C %q", path, f.Name, f.Size, f.CRC32C)
		}
		listed[f.Name] = true
	}
	for _, req := range []string{"config.json", stateTensorsName, stateJSONName} {
		if !listed[req] {
			return nil, fmt.Errorf("%s is damaged: it does not list %s", path, req)
		}
	}
	if !listed[safetensors.SingleName] && !listed[safetensors.IndexName] {
		return nil, fmt.Errorf("%s is damaged: it lists neither %s nor %s", path, safetensors.SingleName, safetensors.IndexName)
	}
	if n, ok := parseStepDir(filepath.Base(dir)); ok && n != mk.Step {
		return nil, fmt.Errorf("%s says step %d, but the folder is named %s", path, mk.Step, filepath.Base(dir))
	}
	return &mk, nil
}

// checkFile compares one listed file with COMPLETE, by size and, when full,
// by checksum; the error names the file and what is wrong with it.
func checkFile(dir string, f completeFile, full bool) error {
	path := filepath.Join(dir, f.Name)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is missing (COMPLETE lists it with %d bytes)", path, f.Size)
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case st.Size() < f.Size:
		return fmt.Errorf("%s is truncated: %d bytes, COMPLETE says %d", path, st.Size(), f.Size)
	case st.Size() > f.Size:
		return fmt.Errorf("%s has grown: %d bytes, COMPLETE says %d", path, st.Size(), f.Size)
	case !full:
		return nil
	}
	got, err := checksumFile(path)
	if err != nil {
		return err
	}
	if got.Size != f.Size {
		return fmt.Errorf("%s changed while being read: %d bytes, COMPLETE says %d", path, got.Size, f.Size)
	}
	if got.CRC32C != f.CRC32C {
		return fmt.Errorf("%s is damaged: its CRC-32C is %s, COMPLETE says %s (same size, different bytes)", path, got.CRC32C, f.CRC32C)
	}
	return nil
}

func checksumFile(path string) (completeFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return completeFile{}, err
	}
	defer fh.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, fh)
	if err != nil {
		return completeFile{}, fmt.Errorf("reading %s: %v", path, err)
	}
	return completeFile{Name: filepath.Base(path), Size: n, CRC32C: fmt.Sprintf("%08x", h.Sum32())}, nil
}

// isComplete is the cheap check Checkpoints makes: a valid COMPLETE whose
// files are all there with their sizes (LoadCheckpoint also checks the bytes).
func isComplete(dir string) bool {
	mk, err := readMarker(dir)
	if err != nil {
		return false
	}
	for _, f := range mk.Files {
		if checkFile(dir, f, false) != nil {
			return false
		}
	}
	return true
}

// Checkpoints lists the complete checkpoints under out (step-N folders with a
// valid COMPLETE marker whose files all have their listed sizes), ascending by
// step. A missing out has none.
func Checkpoints(out string) ([]int, error) {
	ents, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoints in %s: %v", out, err)
	}
	var steps []int
	for _, e := range ents {
		n, ok := parseStepDir(e.Name())
		if ok && e.IsDir() && isComplete(filepath.Join(out, e.Name())) {
			steps = append(steps, n)
		}
	}
	slices.Sort(steps)
	return steps, nil
}

// LatestCheckpoint returns the newest complete checkpoint folder under out and
// its step: the one OUT/latest names when it is complete (after a resume from
// an earlier step, higher steps of the abandoned run may remain), else the
// highest complete step-N. It returns ("", 0, nil) when there is none.
func LatestCheckpoint(out string) (dir string, step int, err error) {
	if data, err := os.ReadFile(filepath.Join(out, latestName)); err == nil {
		name := strings.TrimSpace(string(data))
		if n, ok := parseStepDir(name); ok && isComplete(filepath.Join(out, name)) {
			return filepath.Join(out, name), n, nil
		}
	}
	steps, err := Checkpoints(out)
	if err != nil || len(steps) == 0 {
		return "", 0, err
	}
	n := steps[len(steps)-1]
	return filepath.Join(out, stepDirName(n)), n, nil
}

// previousHint names the newest complete checkpoint older than dir in the
// same OUT, for an error about dir: the user's next move is to resume from it.
func previousHint(dir string) string {
	n, ok := parseStepDir(filepath.Base(filepath.Clean(dir)))
	if !ok {
		return ""
	}
	out := filepath.Dir(filepath.Clean(dir))
	steps, err := Checkpoints(out)
	if err != nil {
		return ""
	}
	prev := -1
	for _, s := range steps {
		if s < n {
			prev = s
		}
	}
	if prev < 0 {
		return fmt.Sprintf("; there is no older complete checkpoint in %s", out)
	}
	p := filepath.Join(out, stepDirName(prev))
	return fmt.Sprintf("; the previous complete checkpoint is %s (resume from it with --resume %s)", p, p)
}

// LoadCheckpoint reads a checkpoint folder after verifying every file against
// COMPLETE (sizes and CRC-32C). A missing, truncated or damaged file gives an
// error naming the file and what is wrong and, when an older complete
// checkpoint exists in the same OUT, naming it with the --resume to use.
// Damaged input gives errors, never a panic.
func LoadCheckpoint(dir string) (*Loaded, error) {
	fail := func(err error) (*Loaded, error) {
		return nil, fmt.Errorf("checkpoint %s: %v%s", dir, err, previousHint(dir))
	}
	if st, err := os.Stat(dir); err != nil {
		return fail(err)
	} else if !st.IsDir() {
		return fail(fmt.Errorf("not a folder"))
	}
	mk, err := readMarker(dir)
	if err != nil {
		return fail(err)
	}
	for _, f := range mk.Files {
		if err := checkFile(dir, f, true); err != nil {
			return fail(err)
		}
	}
	m, err := model.LoadHF(dir)
	if err != nil {
		return fail(err)
	}
	statePath := filepath.Join(dir, stateTensorsName)
	set, err := safetensors.Load(statePath)
	if err != nil {
		return fail(fmt.Errorf("%s: %v", statePath, err))
	}
	defer set.Close()
	ts := make(map[string][]float32, len(set.Tensors()))
	for _, ti := range set.Tensors() {
		v, err := set.Float32(ti.Name)
		if err != nil {
			return fail(fmt.Errorf("%s: %v", statePath, err))
		}
		ts[ti.Name] = v
	}
	state, err := os.ReadFile(filepath.Join(dir, stateJSONName))
	if err != nil {
		return fail(err)
	}
	return &Loaded{Dir: dir, Step: mk.Step, Model: m, Tensors: ts, State: state}, nil
}
