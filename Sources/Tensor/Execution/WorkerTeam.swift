import CThreads
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The body every team member runs: `(context, ith, nth)`.
public typealias TeamBody = @convention(c) (UnsafeMutableRawPointer?, Int32, Int32) -> Void

/// A team of `threadCount` threads that runs one body on all of them and offers a barrier.
///
/// The calling thread is member 0; the other members are persistent threads that spin briefly after each
/// run and then sleep on a futex until the next one. Phases are separated by a counting barrier on
/// `Synchronization.Atomic`. (An OpenMP team was measured too, with a slower barrier: docs/architecture.md.)
public final class WorkerTeam: @unchecked Sendable {
    public let threadCount: Int
    private let shared: SharedTeamState?

    public init(threads: Int) {
        threadCount = max(1, threads)
        if threadCount > 1 {
            shared = SharedTeamState(threadCount: threadCount)
            shared!.startWorkers()
        } else {
            shared = nil
        }
    }

    deinit { shared?.shutDown() }

    /// Runs `body(context, ith, nth)` on every member and returns when all have finished.
    public func run(_ body: TeamBody, context: UnsafeMutableRawPointer?) {
        if threadCount == 1 {
            body(context, 0, 1)
            return
        }
        shared!.run(body, context: context)
    }

    /// Waits until every member has reached this barrier (call only from inside ``run(_:context:)``).
    @inline(__always) public func barrier() {
        if threadCount > 1 { shared!.barrier.wait() }
    }
}

/// A sense-counting spin barrier: the last arrival bumps the generation everyone else spins on.
final class SpinBarrier: @unchecked Sendable {
    private let count: Int
    private let arrived = Atomic<Int>(0)
    private let generation = Atomic<Int>(0)

    init(count: Int) { self.count = count }

    @inline(__always) func wait() {
        let current = generation.load(ordering: .acquiring)
        if arrived.add(1, ordering: .acquiringAndReleasing).newValue == count {
            arrived.store(0, ordering: .relaxed)
            generation.store(current &+ 1, ordering: .releasing)
            return
        }
        var spins = 0
        while generation.load(ordering: .acquiring) == current {
            rwkv_cpu_relax()
            spins += 1
            if spins > 1 << 16 {
                sched_yield()
                spins = 0
            }
        }
    }
}

/// State shared between the team object and its worker threads (which keep it alive until they exit).
final class SharedTeamState: @unchecked Sendable {
    let threadCount: Int
    let barrier: SpinBarrier
    /// Bumped once per run (and at shutdown); workers wait on it. A futex word, so it lives in raw memory.
    private let runGeneration: UnsafeMutablePointer<Atomic<UInt32>>
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private var body: TeamBody?
    private var context: UnsafeMutableRawPointer?
    private var threads: [pthread_t] = []

    /// How long an idle worker spins before it sleeps (iterations of `pause`).
    private static let idleSpins = 20_000

    init(threadCount: Int) {
        self.threadCount = threadCount
        barrier = SpinBarrier(count: threadCount)
        runGeneration = .allocate(capacity: 1)
        runGeneration.initialize(to: Atomic<UInt32>(0))
    }

    deinit {
        runGeneration.deinitialize(count: 1)
        runGeneration.deallocate()
    }

    func startWorkers() {
        for ith in 1..<threadCount {
            let box = Unmanaged.passRetained(WorkerStart(state: self, ith: ith)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.state.workerLoop(ith: start.ith)
                return nil
            }, box)
            precondition(status == 0, "cannot start a worker thread (error \(status))")
            threads.append(thread)
        }
    }

    func shutDown() {
        stopping.store(true, ordering: .releasing)
        runGeneration.pointee.add(1, ordering: .releasing)
        rwkv_futex_wake_all(UnsafeMutableRawPointer(runGeneration))
        for thread in threads { pthread_join(thread, nil) }
    }

    func run(_ body: TeamBody, context: UnsafeMutableRawPointer?) {
        self.body = body
        self.context = context
        finished.store(0, ordering: .relaxed)
        runGeneration.pointee.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            rwkv_futex_wake_all(UnsafeMutableRawPointer(runGeneration))
        }
        body(context, 0, Int32(threadCount))
        while finished.load(ordering: .acquiring) != threadCount - 1 { rwkv_cpu_relax() }
    }

    private func workerLoop(ith: Int) {
        var seen: UInt32 = 0
        while true {
            var spins = 0
            var generation = runGeneration.pointee.load(ordering: .acquiring)
            while generation == seen {
                if spins < Self.idleSpins {
                    rwkv_cpu_relax()
                    spins += 1
                } else {
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    if runGeneration.pointee.load(ordering: .sequentiallyConsistent) == seen {
                        rwkv_futex_wait(UnsafeMutableRawPointer(runGeneration), seen)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                }
                generation = runGeneration.pointee.load(ordering: .acquiring)
            }
            seen = generation
            if stopping.load(ordering: .acquiring) { return }
            body!(context, Int32(ith), Int32(threadCount))
            finished.add(1, ordering: .releasing)
        }
    }
}

private final class WorkerStart {
    let state: SharedTeamState
    let ith: Int
    init(state: SharedTeamState, ith: Int) {
        self.state = state
        self.ith = ith
    }
}
