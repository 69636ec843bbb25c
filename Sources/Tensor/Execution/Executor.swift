import CKernels
import Synchronization

/// An error found while binding or running a graph.
public struct ExecutionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a ``Graph`` many times on one worker team.
///
/// Everything is prepared once, in three parts: the ``ExecutionPlan`` (phases, folding, one arena for every
/// intermediate), the ``TaskTable`` (each planned node lowered to a C task of the chosen ISA level) and the
/// ``Schedule`` (each thread's share of every phase). ``run()`` then allocates nothing: threads walk the
/// phases doing their units, with a barrier between phases; a thread that finishes a large share early takes
/// units from the back of the others' shares (one atomic claim per few microseconds of work), so a core
/// slowed by its memory pages or by the host does not hold the rest at the barrier. Units never depend on
/// the thread count or on who runs them, so results are bit-identical for any `threads`.
public final class Executor: @unchecked Sendable {
    public let graph: Graph
    public let threadCount: Int
    /// The kernels' ISA level.
    public let level: KernelLevel
    /// Bytes of the intermediate arena.
    public var arenaBytes: Int { arena.byteCount }
    /// Number of phases (groups of independent nodes).
    public var phaseCount: Int { plan.phases.count }
    /// Barriers in one run: one after each phase, except between consecutive phases of one-unit tasks.
    public var barrierCount: Int { schedule.barrierCount }
    /// Work units the last ``run()`` ran on a thread other than the one planned for them.
    public var unitsTakenOverInLastRun: Int { takenUnits.load(ordering: .relaxed) }

    private let plan: ExecutionPlan
    private let schedule: Schedule
    private let team: WorkerTeam
    private let arena: TensorStorage
    private let table: TaskTable
    private var bound: [Tensor?]

    // The schedule in memory the run loop reads through plain pointers (owned by the buffers below).
    private let phases: Int
    private let tasks: UnsafeMutablePointer<rwkv_task>
    private let assignments: UnsafeMutablePointer<Schedule.Assignment>
    private let assignmentStart: UnsafeMutablePointer<Int>
    private let shareUnits: UnsafeMutablePointer<Int32>
    private let claimUnits: UnsafeMutablePointer<Int32>
    private let barrierAfter: UnsafeMutablePointer<Bool>
    private let buffers: (OwnedBuffer<Schedule.Assignment>, OwnedBuffer<Int>, OwnedBuffer<Int32>, OwnedBuffer<Int32>, OwnedBuffer<Bool>)
    /// Per share: units claimed from the front (low 32 bits, by the owner) and from the back (high 32 bits,
    /// by other threads). Each thread's words start on a cache line of their own.
    private let claims: AtomicWords
    private let claimStride: Int
    private let takenUnits = Atomic<Int>(0)

    /// Prepares `graph` for `threads` threads on a team of its own. `foldingElementwise` runs element-wise
    /// nodes inside the task of the node they consume (same arithmetic, fewer phases); off, every node is a
    /// task of its own. `level` picks the kernels' ISA level (it must be one this CPU supports).
    public convenience init(graph: Graph, threads: Int = 1, foldingElementwise: Bool = true, level: KernelLevel = .current) {
        self.init(graph: graph, team: WorkerTeam(threads: threads), foldingElementwise: foldingElementwise, level: level)
    }

    /// Prepares `graph` for an existing team (several executors may share one, but must not run at once).
    public init(graph: Graph, team: WorkerTeam, foldingElementwise: Bool = true, level: KernelLevel = .current) {
        precondition(KernelLevel.supported.contains(level), "kernel level \(level) is not supported by this CPU")
        self.graph = graph
        self.team = team
        self.level = level
        threadCount = team.threadCount
        rwkv_blas_single_threaded()
        let plan = ExecutionPlan(graph: graph, foldingElementwise: foldingElementwise)
        let arena = TensorStorage(zeroedByteCount: plan.arenaBytes)
        let table = TaskTable(plan: plan, graph: graph, kernels: level.kernels!, arena: arena.base)
        let schedule = Schedule(phases: plan.phases.map { $0.map { table.taskIndex[$0]! } }, unitCounts: table.unitCounts,
                                unitCosts: table.unitCosts, threads: team.threadCount)
        (self.plan, self.arena, self.table, self.schedule) = (plan, arena, table, schedule)
        bound = Array(repeating: nil, count: graph.slots.count)

        phases = plan.phases.count
        tasks = table.tasks.base
        buffers = (OwnedBuffer(schedule.assignments), OwnedBuffer(schedule.start), OwnedBuffer(schedule.shareUnits),
                   OwnedBuffer(schedule.claimUnits), OwnedBuffer(schedule.barrierAfter))
        (assignments, assignmentStart, shareUnits, claimUnits, barrierAfter) =
            (buffers.0.base, buffers.1.base, buffers.2.base, buffers.3.base, buffers.4.base)
        claimStride = (phases + 1 + 15) / 16 * 16
        claims = AtomicWords(count: threadCount * claimStride)
    }

    /// Binds the slot `slot` (the value ``Graph/input(_:_:_:)`` or ``Graph/state(_:_:)`` returned) to
    /// `tensor`: same dtype and element count, writable for a state slot. The executor reads and writes the
    /// tensor's memory on every run until the slot is bound again.
    public func bind(_ slot: Graph.Value, _ tensor: Tensor) throws {
        guard case .slot(let index) = graph.nodes[slot.id].op else { throw ExecutionError("value \(slot.id) is not a slot") }
        let info = graph.slots[index]
        guard tensor.dtype == info.dtype, tensor.shape.count == info.shape.count, tensor.shape[0] == info.shape[0] else {
            throw ExecutionError("slot '\(info.name)' needs \(info.dtype) \(info.shape), got \(tensor.dtype) \(tensor.shape)")
        }
        guard !info.isState || tensor.isWritable else { throw ExecutionError("state slot '\(info.name)' needs writable memory") }
        bound[index] = tensor
        table.patch(slot: index, to: tensor.storage.base + tensor.byteOffset)
    }

    /// Binds the slot named `name` (see ``bind(_:_:)-(Graph.Value,_)``).
    public func bind(_ name: String, _ tensor: Tensor) throws {
        guard let slot = graph.slots.first(where: { $0.name == name }) else { throw ExecutionError("no slot named '\(name)'") }
        try bind(slot.value, tensor)
    }

    /// Runs the graph once. Allocates nothing.
    public func run() throws {
        if let missing = graph.slots.indices.first(where: { bound[$0] == nil }) {
            throw ExecutionError("slot '\(graph.slots[missing].name)' is not bound")
        }
        table.clearFailure()
        takenUnits.store(0, ordering: .relaxed)
        if threadCount > 1 {
            for i in 0..<claims.count { claims.base[i].store(0, ordering: .relaxed) }
        }
        team.run(Executor.threadBody, context: Unmanaged.passUnretained(self).toOpaque())
        if table.failed { throw ExecutionError("a kernel refused its input: a token id outside the embedding table or an attention cache past its capacity") }
    }

    /// Runs `body(context, ith, nth)` once on every thread of this executor's team (for per-thread setup
    /// such as floating-point modes or instrumentation).
    public func forEachThread(_ body: TeamBody, context: UnsafeMutableRawPointer? = nil) {
        team.run(body, context: context)
    }

    /// The result `value` (a graph output) from the last run: a view into the arena, overwritten by the next run.
    public func output(_ value: Graph.Value) throws -> Tensor {
        guard graph.outputs.contains(where: { $0.value == value }) else { throw ExecutionError("value \(value.id) is not an output") }
        let node = graph.nodes[value.id]
        return Tensor(dtype: node.dtype, shape: node.shape, storage: arena, byteOffset: plan.offsets[value.id]!)
    }

    /// The result named `name` from the last run.
    public func output(_ name: String) throws -> Tensor {
        guard let entry = graph.outputs.first(where: { $0.name == name }) else { throw ExecutionError("no output named '\(name)'") }
        return try output(entry.value)
    }

    private static let threadBody: TeamBody = { context, ith, nth in
        let executor = Unmanaged<Executor>.fromOpaque(context!).takeUnretainedValue()
        executor.work(ith: Int(ith))
    }

    /// One thread's walk over the phases: its own share, then what is left of the others', from their backs.
    private func work(ith: Int) {
        for phase in 0..<phases {
            runOwnShare(row: ith * (phases + 1) + phase, claim: claims.base + ith * claimStride + phase)
            if threadCount > 1 {
                for offset in 1..<threadCount {
                    let victim = (ith + offset) % threadCount
                    takeFromBack(row: victim * (phases + 1) + phase, claim: claims.base + victim * claimStride + phase)
                }
            }
            if barrierAfter[phase] { team.barrier() }
        }
    }

    /// Runs a share from its front when others may take from its back: each claim takes half of what is left
    /// (at least `claimUnits`), so a share runs in few calls (a prefill GEMM gathers its tokens once per call:
    /// one call per unit made the 2.9B F16 prefill 1.2–1.4× slower at two threads) while its last units stay
    /// small enough to balance.
    @inline(__always) private func runOwnShare(row: Int, claim: UnsafeMutablePointer<Atomic<UInt64>>) {
        let size = Int(claimUnits[row]), units = Int(shareUnits[row])
        guard size > 0 else { return runShareUnits(row: row, 0..<units) }
        while true {
            let seen = Self.unclaimed(claim.pointee.load(ordering: .relaxed), of: units)
            guard seen.front < seen.end else { return }
            let take = max(size, (seen.end - seen.front) / 2)
            let (front, end) = Self.unclaimed(claim.pointee.add(UInt64(take), ordering: .relaxed).oldValue, of: units)
            guard front < end else { return }
            runShareUnits(row: row, front..<min(front + take, end))
            if front + take >= end { return }
        }
    }

    /// Claims and runs units from the back of another thread's share until it is used up.
    @inline(__always) private func takeFromBack(row: Int, claim: UnsafeMutablePointer<Atomic<UInt64>>) {
        let size = Int(claimUnits[row])
        guard size > 0 else { return }
        let units = Int(shareUnits[row])
        while true {
            let seen = Self.unclaimed(claim.pointee.load(ordering: .relaxed), of: units)
            guard seen.front < seen.end else { return }
            let (front, end) = Self.unclaimed(claim.pointee.add(UInt64(size) << 32, ordering: .relaxed).oldValue, of: units)
            let start = max(front, end - size)
            guard start < end else { return }
            takenUnits.add(end - start, ordering: .relaxed)
            runShareUnits(row: row, start..<end)
            if start == front { return }
        }
    }

    /// The units of a share of `units` that no one has claimed, from its claim word: units claimed from the
    /// front in the low 32 bits, from the back in the high 32 (either count may run past the other's end).
    @inline(__always) private static func unclaimed(_ word: UInt64, of units: Int) -> (front: Int, end: Int) {
        (Int(word & 0xffff_ffff), units - Int(word >> 32))
    }

    /// Runs units `range` of a share, counted across its assignments in order.
    @inline(__always) private func runShareUnits(row: Int, _ range: Range<Int>) {
        var before = 0
        for a in assignmentStart[row]..<assignmentStart[row + 1] {
            let assignment = assignments[a]
            let count = Int(assignment.end - assignment.first)
            let low = max(range.lowerBound - before, 0), high = min(range.upperBound - before, count)
            if low < high {
                let first = Int64(assignment.first)
                rwkv_task_run(tasks + Int(assignment.task), first + Int64(low), first + Int64(high))
            }
            before += count
            if before >= range.upperBound { return }
        }
    }
}

/// Zeroed 64-bit atomic words in memory of their own.
final class AtomicWords: @unchecked Sendable {
    let base: UnsafeMutablePointer<Atomic<UInt64>>
    let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        for i in 0..<count { (base + i).initialize(to: Atomic<UInt64>(0)) }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}
