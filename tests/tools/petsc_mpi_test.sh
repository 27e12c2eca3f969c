#!/usr/bin/env bash
# A 2-process PETSc solve (API §7): both processes must hold the solution of the 1-process run.
#   petsc_mpi_test.sh <petsc_mpi_probe> <work dir>
set -euo pipefail
probe=$1 dir=$2
mkdir -p "$dir" && rm -f "$dir"/x1.* "$dir"/x2.*
if ! command -v mpirun >/dev/null; then echo "mpirun not found (openmpi-bin)"; exit 77; fi
flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && flags+=(--allow-run-as-root)
# Open MPI in a container: no high-speed transports to probe, only shared memory and loopback.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_plm_rsh_agent=
export PHIJIT_NUM_THREADS=1  # two processes on two cores
"$probe" solve 1 "$dir/x1" || exit $?
mpirun "${flags[@]}" -np 2 "$probe" solve 2 "$dir/x2"
"$probe" compare "$dir/x1.0" "$dir/x2.0" "$dir/x2.1"
