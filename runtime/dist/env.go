package dist

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// World is where a process stands in its job, as its launcher says.
type World struct {
	Rank, Size, LocalRank int
	// Source names the launcher variables read ("OMPI_COMM_WORLD_*",
	// "PMI_*", "SLURM_*", "RANK/WORLD_SIZE", or "" for none: one process).
	Source string
}

// launchers are read in this order; the first whose rank and size variables
// are both set wins.
var launchers = []struct {
	source, rank, size string
	local              []string
}{
	{"OMPI_COMM_WORLD_*", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", []string{"OMPI_COMM_WORLD_LOCAL_RANK"}},
	{"PMI_*", "PMI_RANK", "PMI_SIZE", []string{"MPI_LOCALRANKID", "PMI_LOCAL_RANK"}},
	{"SLURM_*", "SLURM_PROCID", "SLURM_NTASKS", []string{"SLURM_LOCALID"}},
	{"RANK/WORLD_SIZE", "RANK", "WORLD_SIZE", []string{"LOCAL_RANK"}},
}

// EnvWorld reads the launcher's variables: mpirun (OMPI_COMM_WORLD_RANK,
// _SIZE, _LOCAL_RANK), MPICH/Intel MPI (PMI_RANK, PMI_SIZE), srun
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) and torchrun
// (RANK, WORLD_SIZE, LOCAL_RANK). None set: rank 0 of 1. A malformed or
// inconsistent value is an error naming the variable.
func EnvWorld() (World, error) { return worldFrom(os.Getenv) }

func worldFrom(get func(string) string) (World, error) {
	for _, l := range launchers {
		rs, ss := get(l.rank), get(l.size)
		if rs == "" && ss == "" {
			continue
		}
		if rs == "" || ss == "" {
			return World{}, fmt.Errorf("dist: %s=%q but %s=%q: a launcher sets both", l.rank, rs, l.size, ss)
		}
		w := World{Source: l.source}
		var err error
		if w.Rank, err = envInt(l.rank, rs); err != nil {
			return World{}, err
		}
		if w.Size, err = envInt(l.size, ss); err != nil {
			return World{}, err
		}
		if w.Size < 1 || w.Rank >= w.Size {
			return World{}, fmt.Errorf("dist: %s=%d is not a rank of %s=%d", l.rank, w.Rank, l.size, w.Size)
		}
		w.LocalRank = -1
		for _, name := range l.local {
			if v := get(name); v != "" {
				if w.LocalRank, err = envInt(name, v); err != nil {
					return World{}, err
				}
				break
			}
		}
		if w.LocalRank < 0 {
			w.LocalRank = w.Rank // one machine; MPI corrects it from the shared-memory split
			if w.Size == 1 {
				w.LocalRank = 0
			}
		}
		return w, nil
	}
	return World{Rank: 0, Size: 1, LocalRank: 0}, nil
}

func envInt(name, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("dist: %s=%q is not a non-negative integer", name, v)
	}
	return n, nil
}

// Options choose a backend.
type Options struct {
	// Backend: "" (auto), "single", "mpi", "nccl". Auto is "single" for a
	// world of one and "mpi" otherwise; REALC_DIST_BACKEND overrides it.
	Backend string
	// Timeout bounds every collective (0: REALC_DIST_TIMEOUT, else
	// DefaultTimeout).
	Timeout time.Duration
}

// FromEnv opens the communicator the launcher's environment implies (see
// Open and EnvWorld).
func FromEnv() (Comm, error) { return Open(Options{}) }

// Open opens a communicator. "mpi" needs a binary built with -tags mpi,
// "nccl" one built with -tags cuda (and -tags mpi for more than one rank:
// NCCL's unique id travels over MPI).
func Open(o Options) (Comm, error) {
	w, err := EnvWorld()
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = envTimeout()
	}
	backend := o.Backend
	if backend == "" {
		backend = os.Getenv("REALC_DIST_BACKEND")
	}
	if backend == "" {
		backend = "single"
		if w.Size > 1 {
			backend = "mpi"
		}
	}
	switch backend {
	case "single":
		if w.Size > 1 {
			return nil, fmt.Errorf("dist: backend single, but %s says world size %d", w.Source, w.Size)
		}
		c := Single()
		c.SetTimeout(timeout)
		return c, nil
	case "mpi":
		e, err := openMPI(w)
		if err != nil {
			return nil, err
		}
		return newComm(e, timeout), nil
	case "nccl":
		e, err := openNCCL(w, timeout)
		if err != nil {
			return nil, err
		}
		return newComm(e, timeout), nil
	}
	return nil, fmt.Errorf("dist: unknown backend %q (single, mpi or nccl)", backend)
}

// openMPI and openNCCL are replaced by the mpi and cuda builds.
var (
	openMPI = func(w World) (engine, error) {
		return nil, fmt.Errorf("dist: backend mpi, but this binary was built without -tags mpi (world size %d from %s)", w.Size, sourceName(w))
	}
	openNCCL = func(w World, timeout time.Duration) (engine, error) {
		return nil, fmt.Errorf("dist: backend nccl, but this binary was built without -tags cuda (world size %d from %s)", w.Size, sourceName(w))
	}
)

func sourceName(w World) string {
	if w.Source == "" {
		return "no launcher variables"
	}
	return w.Source
}

// envTimeout is REALC_DIST_TIMEOUT (a Go duration, "90s", or seconds) or
// DefaultTimeout.
func envTimeout() time.Duration {
	v := os.Getenv("REALC_DIST_TIMEOUT")
	if v == "" {
		return DefaultTimeout
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	fmt.Fprintf(os.Stderr, "dist: REALC_DIST_TIMEOUT=%q is not a duration; using %v\n", v, DefaultTimeout)
	return DefaultTimeout
}
