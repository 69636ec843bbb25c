import Synchronization

/// An error found while binding or running a graph.
public struct ExecutionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a ``Graph`` many times on one worker team.
///
/// Everything is prepared once here: the phase plan, the arena (one allocation for every
/// intermediate), the lowered kernel tasks and each thread's share of every phase. ``run()`` then
/// allocates nothing; threads walk the phases, doing their precomputed units, with a barrier between
/// phases. A thread that finishes a large share early takes units from the back of the others' shares
/// (one atomic claim per few microseconds of work), so a core slowed by its memory pages or by the host
/// does not hold the rest at the barrier. Units never depend on the thread count or on who runs them,
/// so results are bit-identical for any `threads`.
public final class Executor: @unchecked Sendable {
    public let graph: Graph
    public let threadCount: Int
    /// Bytes of the intermediate arena.
    public var arenaBytes: Int { arena.byteCount }
    /// Number of phases (groups of independent nodes).
    public var phaseCount: Int { plan.phases.count }
    /// Barriers in one run: one after each phase, except between consecutive phases of one-unit tasks.
    public let barrierCount: Int
    /// Work units the last ``run()`` ran on a thread other than the one planned for them.
    public var unitsTakenOverInLastRun: Int { takenUnits.load(ordering: .relaxed) }

    private let plan: ExecutionPlan
    private let phases: Int
    private let team: WorkerTeam
    private let arena: TensorStorage
    private let tasks: UnsafeMutablePointer<KernelTask>
    private let taskCount: Int
    private let pointerTable: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let epilogueSteps: UnsafeMutablePointer<EpilogueStep>
    /// (pointer-table index, slot) pairs patched by ``bind(_:_:)``.
    private let slotPatches: [(index: Int, slot: Int)]
    private var bound: [Tensor?]
    private var unboundCount: Int
    /// Units of each (thread, phase): `assignmentStart[thread * (phases + 1) + phase] ..< [… + 1]`.
    private let assignments: UnsafeMutablePointer<Assignment>
    private let assignmentStart: UnsafeMutablePointer<Int>
    /// Per (thread, phase) row: the share's unit count, and its claim size in units (0: too small to share).
    private let shareUnits: UnsafeMutablePointer<Int32>
    private let claimUnits: UnsafeMutablePointer<Int32>
    /// Per row: units claimed from the front (low 32 bits, by the owner) and from the back (high 32 bits,
    /// by other threads). Each thread's rows start on a cache line of their own.
    private let claims: UnsafeMutablePointer<Atomic<UInt64>>
    private let claimStride: Int
    /// Whether threads meet after each phase (not between two phases that thread 0 runs alone).
    private let barrierAfter: UnsafeMutablePointer<Bool>
    private let badTokenIDs = Atomic<Int>(0)
    private let takenUnits = Atomic<Int>(0)

    /// A share is worth sharing out when it is estimated at this many ns or more; claims are about
    /// `claimNanoseconds` of work each.
    private static let minimumSharedNanoseconds = 8_000.0, claimNanoseconds = 4_000.0

    private struct Assignment {
        var task: Int32
        var first: Int32
        var end: Int32
    }

    /// Prepares `graph` for `threads` threads on a team of its own. `foldingElementwise` runs element-wise
    /// nodes inside the task of the node they consume (same arithmetic, fewer phases); off, every node
    /// is a task of its own.
    public convenience init(graph: Graph, threads: Int = 1, backend: ThreadBackend = .swift, foldingElementwise: Bool = true) {
        self.init(graph: graph, team: WorkerTeam(threads: threads, backend: backend), foldingElementwise: foldingElementwise)
    }

    /// Prepares `graph` for an existing team (several executors may share one, but must not run at once).
    public init(graph: Graph, team: WorkerTeam, foldingElementwise: Bool = true) {
        self.graph = graph
        threadCount = team.threadCount
        plan = ExecutionPlan(graph: graph, foldingElementwise: foldingElementwise)
        phases = plan.phases.count
        MatmulKernels.useSingleThreadedBLAS()
        self.team = team
        arena = TensorStorage(zeroedByteCount: plan.arenaBytes)
        bound = Array(repeating: nil, count: graph.slots.count)
        unboundCount = graph.slots.count

        // Each task's input pointers: its node's inputs (and the slot a store writes), then the other
        // operands of the nodes folded into it, whose steps index them.
        let ordered = plan.phases.flatMap { $0 }
        var references: [[Graph.Value]] = []
        var steps: [[EpilogueStep]] = []
        for id in ordered {
            let node = graph.nodes[id]
            var values = node.inputs
            if case .store(let slot) = node.op { values.append(graph.slots[slot].value) }
            var taskSteps: [EpilogueStep] = []
            for (folded, chainInput) in plan.epilogues[id] ?? [] {
                let foldedNode = graph.nodes[folded]
                let operands = foldedNode.inputs.indices.filter { $0 != chainInput }.map { foldedNode.inputs[$0] }
                var step = EpilogueStep.folding(foldedNode.op)
                func isRow(_ operand: Graph.Value) -> Bool { graph.shape(operand).count != foldedNode.shape.count }
                if operands.count > 0 { (step.operand, step.operandIsRow) = (values.count, isRow(operands[0])) }
                if operands.count > 1 { (step.second, step.secondIsRow) = (values.count + 1, isRow(operands[1])) }
                values += operands
                taskSteps.append(step)
            }
            references.append(values)
            steps.append(taskSteps)
        }
        taskCount = ordered.count
        let tasks = UnsafeMutablePointer<KernelTask>.allocate(capacity: max(1, taskCount))
        self.tasks = tasks
        pointerTable = .allocate(capacity: max(1, references.reduce(0) { $0 + $1.count }))
        epilogueSteps = .allocate(capacity: max(1, steps.reduce(0) { $0 + $1.count }))
        var patches: [(Int, Int)] = []
        var taskIndex: [Int: Int] = [:]
        var cursor = 0, stepCursor = 0
        let placeholder = arena.base
        for (index, id) in ordered.enumerated() {
            let node = graph.nodes[id]
            let inputs = pointerTable + cursor
            for (i, input) in references[index].enumerated() {
                switch graph.nodes[input.id].op {
                case .slot(let slot):
                    (inputs + i).initialize(to: placeholder)
                    patches.append((cursor + i, slot))
                case .weight(let tensor):
                    (inputs + i).initialize(to: tensor.storage.base + tensor.byteOffset)
                default:
                    (inputs + i).initialize(to: arena.base + plan.offsets[input.id]!)
                }
            }
            cursor += references[index].count
            let arenaBase = arena.base
            let out = plan.offsets[id].map { arenaBase + $0 } ?? placeholder
            var task = Lowering.task(for: node, graph: graph, out: out, inputs: inputs)
            if !steps[index].isEmpty {
                (epilogueSteps + stepCursor).initialize(from: steps[index], count: steps[index].count)
                task.epilogue = UnsafePointer(epilogueSteps + stepCursor)
                task.epilogueCount = steps[index].count
                stepCursor += steps[index].count
            }
            (tasks + index).initialize(to: task)
            taskIndex[id] = index
        }
        slotPatches = patches

        // Each thread's contiguous share of every phase, balanced by estimated cost. A phase of one-unit
        // tasks only (a decode step's norms and mixes) is thread 0's alone: its inputs stay in one core's
        // cache, and no barrier separates it from a next phase of the same kind.
        var perThread = [[[Assignment]]](repeating: [], count: threadCount)
        var serial: [Bool] = []
        for members in plan.phases {
            var shares = [[Assignment]](repeating: [], count: threadCount)
            let isSerial = members.allSatisfy { tasks[taskIndex[$0]!].unitCount == 1 }
            serial.append(isSerial)
            let total = isSerial ? 0 : members.reduce(0.0) { $0 + tasks[taskIndex[$1]!].unitCostTotal }
            var before = 0.0
            for id in members {
                let t = taskIndex[id]!
                let task = tasks[t]
                for unit in 0..<task.unitCount {
                    let middle = before + (Double(unit) + 0.5) * task.unitCost
                    let owner = total > 0 ? min(threadCount - 1, Int(middle / total * Double(threadCount))) : 0
                    if let last = shares[owner].last, last.task == Int32(t), last.end == Int32(unit) {
                        shares[owner][shares[owner].count - 1].end += 1
                    } else {
                        shares[owner].append(Assignment(task: Int32(t), first: Int32(unit), end: Int32(unit + 1)))
                    }
                }
                before += task.unitCostTotal
            }
            for thread in 0..<threadCount { perThread[thread].append(shares[thread]) }
        }
        let flat = perThread.flatMap { $0.flatMap { $0 } }
        assignments = .allocate(capacity: max(1, flat.count))
        assignments.initialize(from: flat, count: flat.count)
        let rowCount = threadCount * (phases + 1)
        assignmentStart = .allocate(capacity: rowCount)
        shareUnits = .allocate(capacity: rowCount)
        claimUnits = .allocate(capacity: rowCount)
        shareUnits.initialize(repeating: 0, count: rowCount)
        claimUnits.initialize(repeating: 0, count: rowCount)
        var position = 0
        for thread in 0..<threadCount {
            for phase in 0..<phases {
                let row = thread * (phases + 1) + phase
                assignmentStart[row] = position
                position += perThread[thread][phase].count
                let share = perThread[thread][phase]
                let units = share.reduce(0) { $0 + Int($1.end - $1.first) }
                let cost = share.reduce(0.0) { $0 + Double($1.end - $1.first) * tasks[Int($1.task)].unitCost }
                shareUnits[row] = Int32(units)
                if threadCount > 1 && units > 1 && cost >= Self.minimumSharedNanoseconds {
                    claimUnits[row] = Int32(max(1, min(units, Int(Self.claimNanoseconds / (cost / Double(units))))))
                }
            }
            assignmentStart[thread * (phases + 1) + phases] = position
        }
        let meets = (0..<phases).map { !(serial[$0] && $0 + 1 < serial.count && serial[$0 + 1]) }
        barrierAfter = .allocate(capacity: max(1, meets.count))
        barrierAfter.initialize(from: meets, count: meets.count)
        barrierCount = meets.count { $0 }
        claimStride = (phases + 1 + 15) / 16 * 16
        claims = .allocate(capacity: threadCount * claimStride)
        for i in 0..<threadCount * claimStride { (claims + i).initialize(to: Atomic<UInt64>(0)) }
    }

    deinit {
        tasks.deinitialize(count: taskCount)
        tasks.deallocate()
        pointerTable.deallocate()
        epilogueSteps.deallocate()
        assignments.deallocate()
        assignmentStart.deallocate()
        shareUnits.deallocate()
        claimUnits.deallocate()
        barrierAfter.deallocate()
        claims.deinitialize(count: threadCount * claimStride)
        claims.deallocate()
    }

    /// Binds slot `name` to `tensor` (same dtype and element count; writable for a state slot). The
    /// executor reads and writes the tensor's memory on every run until it is bound again.
    public func bind(_ name: String, _ tensor: Tensor) throws {
        guard let slot = graph.slots.firstIndex(where: { $0.name == name }) else {
            throw ExecutionError("no slot named '\(name)'")
        }
        let info = graph.slots[slot]
        guard tensor.dtype == info.dtype, tensor.shape.count == info.shape.count, tensor.shape[0] == info.shape[0] else {
            throw ExecutionError("slot '\(name)' needs \(info.dtype) \(info.shape), got \(tensor.dtype) \(tensor.shape)")
        }
        guard !info.isState || tensor.isWritable else { throw ExecutionError("state slot '\(name)' needs writable memory") }
        if bound[slot] == nil { unboundCount -= 1 }
        bound[slot] = tensor
        let base = tensor.storage.base + tensor.byteOffset
        for patch in slotPatches where patch.slot == slot { pointerTable[patch.index] = base }
    }

    /// Runs the graph once. Allocates nothing.
    public func run() throws {
        guard unboundCount == 0 else {
            let missing = graph.slots.indices.first { bound[$0] == nil }!
            throw ExecutionError("slot '\(graph.slots[missing].name)' is not bound")
        }
        badTokenIDs.store(0, ordering: .relaxed)
        takenUnits.store(0, ordering: .relaxed)
        if threadCount > 1 {
            for i in 0..<threadCount * claimStride { claims[i].store(0, ordering: .relaxed) }
        }
        team.run(Executor.threadBody, context: Unmanaged.passUnretained(self).toOpaque())
        if badTokenIDs.load(ordering: .relaxed) != 0 {
            throw ExecutionError("a token id is outside the embedding table")
        }
    }

    /// Runs `body(context, ith, nth)` once on every thread of this executor's team (for per-thread setup
    /// such as floating-point modes or instrumentation).
    public func forEachThread(_ body: TeamBody, context: UnsafeMutableRawPointer? = nil) {
        team.run(body, context: context)
    }

    /// The result named `name` from the last run: a view into the arena, overwritten by the next run.
    public func output(_ name: String) throws -> Tensor {
        guard let entry = graph.outputs.first(where: { $0.name == name }) else { throw ExecutionError("no output named '\(name)'") }
        let node = graph.nodes[entry.value.id]
        return Tensor(dtype: node.dtype, shape: node.shape, storage: arena, byteOffset: plan.offsets[entry.value.id]!)
    }

    private static let threadBody: TeamBody = { context, ith, nth in
        let executor = Unmanaged<Executor>.fromOpaque(context!).takeUnretainedValue()
        executor.work(ith: Int(ith), nth: Int(nth))
    }

    /// One thread's walk over the phases. When the team is smaller than planned (OpenMP may give fewer
    /// threads), member `ith` also does the shares of planned threads `ith + nth`, `ith + 2·nth`, ….
    /// Then it helps with what is left of the other shares of the phase, from their backs.
    private func work(ith: Int, nth: Int) {
        for phase in 0..<phases {
            var thread = ith
            while thread < threadCount {
                runOwnShare(row: thread * (phases + 1) + phase, claim: claims + thread * claimStride + phase)
                thread += nth
            }
            if threadCount > 1 {
                for offset in 1..<threadCount {
                    let victim = (ith + offset) % threadCount
                    takeFromBack(row: victim * (phases + 1) + phase, claim: claims + victim * claimStride + phase)
                }
            }
            if barrierAfter[phase] { team.barrier() }
        }
    }

    /// Runs a share from its front, claiming `claimUnits` at a time when others may take from its back.
    @inline(__always) private func runOwnShare(row: Int, claim: UnsafeMutablePointer<Atomic<UInt64>>) {
        let size = Int(claimUnits[row]), units = Int(shareUnits[row])
        guard size > 0 else { return runShareUnits(row: row, 0..<units) }
        while true {
            let old = claim.pointee.add(UInt64(size), ordering: .relaxed).oldValue
            let front = Int(old & 0xffff_ffff), end = units - Int(old >> 32)
            guard front < end else { return }
            runShareUnits(row: row, front..<min(front + size, end))
            if front + size >= end { return }
        }
    }

    /// Claims and runs units from the back of another thread's share until it is used up.
    @inline(__always) private func takeFromBack(row: Int, claim: UnsafeMutablePointer<Atomic<UInt64>>) {
        let size = Int(claimUnits[row])
        guard size > 0 else { return }
        let units = Int(shareUnits[row])
        while true {
            let seen = claim.pointee.load(ordering: .relaxed)
            guard Int(seen & 0xffff_ffff) + Int(seen >> 32) < units else { return }
            let old = claim.pointee.add(UInt64(size) << 32, ordering: .relaxed).oldValue
            let front = Int(old & 0xffff_ffff), end = units - Int(old >> 32)
            let start = max(front, end - size)
            guard start < end else { return }
            takenUnits.add(end - start, ordering: .relaxed)
            runShareUnits(row: row, start..<end)
            if start == front { return }
        }
    }

    /// Runs units `range` of a share, counted across its assignments in order.
    @inline(__always) private func runShareUnits(row: Int, _ range: Range<Int>) {
        var before = 0
        for a in assignmentStart[row]..<assignmentStart[row + 1] {
            let assignment = assignments[a]
            let count = Int(assignment.end - assignment.first)
            let low = max(range.lowerBound - before, 0), high = min(range.upperBound - before, count)
            if low < high {
                let first = Int(assignment.first)
                execute(tasks[Int(assignment.task)], units: first + low..<first + high)
            }
            before += count
            if before >= range.upperBound { return }
        }
    }

    @inline(__always) private func execute(_ task: KernelTask, units: Range<Int>) {
        runKernel(task, units: units)
        guard task.epilogueCount > 0 else { return }
        switch task.kind {
        case .matmulF32, .matmulF16, .matmulQuantized, .matmulBlocks:
            EpilogueKernels.apply(task, channels: MatmulKernels.rowRange(task, units, rowsPerUnit: task.matmulRowsPerUnit),
                                  tokens: 0..<task.rows, rowLength: task.outWidth)
        default:
            EpilogueKernels.apply(task, channels: 0..<task.width, tokens: units, rowLength: task.width)
        }
    }

    @inline(__always) private func runKernel(_ task: KernelTask, units: Range<Int>) {
        switch task.kind {
        case .matmulF32: MatmulKernels.f32(task, units: units)
        case .matmulF16: MatmulKernels.f16(task, units: units)
        case .matmulQuantized: MatmulKernels.quantized(task, units: units)
        case .matmulBlocks: MatmulKernels.blocks(task, units: units)
        case .convertRows: MatmulKernels.convertRows(task, rows: units)
        case .layerNorm, .groupNorm, .l2NormalizeHeads: NormKernels.run(task, rows: units)
        case .wkv7: WKV7Kernel.run(task, units: units)
        case .vectorTimesTokenMatrix: ElementwiseKernels.vectorTimesTokenMatrix(task, tokens: units)
        case .getRows:
            if !ElementwiseKernels.getRows(task, rows: units) { badTokenIDs.store(1, ordering: .relaxed) }
        default: ElementwiseKernels.run(task, rows: units)
        }
    }
}

extension KernelTask {
    var unitCostTotal: Double { Double(unitCount) * unitCost }
}
