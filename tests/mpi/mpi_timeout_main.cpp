// A rank that does not come to a collective. Rank 1 is late (it sleeps, stops itself with SIGSTOP,
// dies with SIGKILL, or exits normally) while rank 0 waits in the collective with a short timeout:
// rank 0 must end the run with one clear line, not wait forever. ctest runs it under `mpirun -np 2`
// through tests/mpi/expect_abort.cmake, which checks the exit status, the message and the time
// taken (tests/CMakeLists.txt).
//
//   minidl_mpi_timeout <all_reduce|broadcast|barrier|all_gather> <timeout s> <late>
//   late: seconds to sleep, or stop, kill, exit
//
// When rank 1 is late by less than the timeout, both ranks complete the collective, and rank 0
// checks that its wait did not keep a core busy (the poll sleeps, dist/mpi_communicator.cpp).
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "dist/communicator.h"

using namespace minidl;

namespace {

// 1024 f32: the collectives move 4096 bytes (all_gather: its 8-byte length exchange comes first).
void run(Communicator& comm, const std::string& op) {
  if (op == "all_reduce") {
    comm.all_reduce(Tensor::full({1024}, 1.0), ReduceOp::sum);
  } else if (op == "broadcast") {
    comm.broadcast(Tensor::full({1024}, 1.0), 0);
  } else if (op == "barrier") {
    comm.barrier();
  } else if (op == "all_gather") {
    comm.all_gather(std::vector<int64_t>{comm.rank()});
  } else {
    MINIDL_FAIL("unknown operation '", op, "' (known: all_reduce, broadcast, barrier, all_gather)");
  }
}

void be_late(const std::string& how) {
  if (how == "stop") {
    raise(SIGSTOP);  // hangs until mpirun kills it
  } else if (how == "kill") {
    raise(SIGKILL);
  } else if (how == "exit") {
    std::exit(0);  // skips the collective; MPI_Finalize runs at exit
  } else {
    std::this_thread::sleep_for(std::chrono::duration<double>(std::stod(how)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    MINIDL_CHECK(argc == 4, "usage: minidl_mpi_timeout <all_reduce|broadcast|barrier|all_gather> ",
                 "<timeout s> <rank 1 late by: seconds|stop|kill|exit>");
    const std::string op = argv[1], late = argv[3];
    std::unique_ptr<Communicator> comm = make_communicator("mpi");
    MINIDL_CHECK(comm->world_size() == 2, "run under mpirun -np 2");
    comm->barrier();  // both ranks are up: only rank 1's lateness delays what follows
    comm->set_timeout(std::stod(argv[2]));
    if (comm->rank() == 1) be_late(late);
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    run(*comm, op);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    if (comm->rank() == 0) {
      std::printf("rank 0: %s completed after %.3f s, using %.3f s of CPU\n", op.c_str(), wall,
                  cpu);
      // A spinning wait uses about as much CPU as wall time; the poll's sleeps use a few percent.
      MINIDL_CHECK(wall < 0.5 || cpu < 0.25 * wall, "rank 0 used ", cpu, " s of CPU in a ", wall,
                   " s wait: the poll spins");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_mpi_timeout: %s\n", e.what());
    return 1;
  }
}
