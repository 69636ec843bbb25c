import CKernels

/// Memory for a fixed number of values that frees itself: what the run loop reads through plain pointers.
final class OwnedBuffer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
    let count: Int

    init(_ values: [Element]) {
        count = values.count
        base = .allocate(capacity: max(1, count))
        base.initialize(from: values, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// A plan's nodes lowered to C tasks, in phase order, with everything they point at: the input pointers
/// (arena offsets, weights, slots patched by ``patch(slot:to:)``), the steps of the nodes folded into them,
/// and the word a kernel sets when it meets bad input.
final class TaskTable {
    let tasks: OwnedBuffer<rwkv_task>
    /// Per task: work units and the estimated cost of one.
    let unitCounts: [Int]
    let unitCosts: [Double]
    /// The task index of each planned node.
    let taskIndex: [Int: Int]
    private let pointers: OwnedBuffer<UnsafeMutableRawPointer?>
    private let steps: OwnedBuffer<rwkv_epilogue_step>
    private let failure: OwnedBuffer<Int32>
    /// Per slot: the pointer-table entries that hold it.
    private let slotEntries: [[Int]]

    init(plan: ExecutionPlan, graph: Graph, kernels: Kernels, arena: UnsafeMutableRawPointer) {
        // Each task's inputs: its node's inputs (and the slot a store writes), then the other operands of
        // the nodes folded into it, which their steps index.
        let ordered = plan.phases.flatMap { $0 }
        var references: [[Graph.Value]] = []
        var stepLists: [[rwkv_epilogue_step]] = []
        for id in ordered {
            let node = graph.nodes[id]
            var values = node.inputs
            if case .store(let slot) = node.op { values.append(graph.slots[slot].value) }
            var taskSteps: [rwkv_epilogue_step] = []
            for (folded, chainInput) in plan.epilogues[id] ?? [] {
                let foldedNode = graph.nodes[folded]
                let operands = foldedNode.inputs.indices.filter { $0 != chainInput }.map { foldedNode.inputs[$0] }
                var step = foldedNode.op.traits!.foldable!.step
                func isRow(_ operand: Graph.Value) -> Int32 { graph.shape(operand).count != foldedNode.shape.count ? 1 : 0 }
                if operands.count > 0 { (step.operand, step.operand_is_row) = (Int32(values.count), isRow(operands[0])) }
                if operands.count > 1 { (step.second, step.second_is_row) = (Int32(values.count + 1), isRow(operands[1])) }
                values += operands
                taskSteps.append(step)
            }
            references.append(values)
            stepLists.append(taskSteps)
        }

        var pointerValues: [UnsafeMutableRawPointer?] = []
        var slotEntries = [[Int]](repeating: [], count: graph.slots.count)
        for values in references {
            for input in values {
                switch graph.nodes[input.id].op {
                case .slot(let slot):
                    slotEntries[slot].append(pointerValues.count)
                    pointerValues.append(nil)
                case .weight(let tensor):
                    pointerValues.append(tensor.storage.base + tensor.byteOffset)
                default:
                    pointerValues.append(arena + plan.offsets[input.id]!)
                }
            }
        }
        pointers = OwnedBuffer(pointerValues)
        steps = OwnedBuffer(stepLists.flatMap { $0 })
        failure = OwnedBuffer([0])
        self.slotEntries = slotEntries

        var lowered: [rwkv_task] = [], counts: [Int] = [], costs: [Double] = []
        var taskIndex: [Int: Int] = [:]
        var pointerCursor = 0, stepCursor = 0
        for (index, id) in ordered.enumerated() {
            let node = graph.nodes[id]
            var result = node.op.traits!.lower(LoweringContext(node: node, graph: graph, kernels: kernels))
            result.task.in = pointers.base + pointerCursor
            result.task.out = plan.offsets[id].map { (arena + $0).assumingMemoryBound(to: Float.self) }
            result.task.failed = failure.base
            result.task.finish = kernels[\.finish]
            if !stepLists[index].isEmpty {
                result.task.epilogue = UnsafePointer(steps.base + stepCursor)
                result.task.epilogue_count = Int64(stepLists[index].count)
            }
            pointerCursor += references[index].count
            stepCursor += stepLists[index].count
            lowered.append(result.task)
            counts.append(result.unitCount)
            costs.append(result.unitCost)
            taskIndex[id] = index
        }
        tasks = OwnedBuffer(lowered)
        unitCounts = counts
        unitCosts = costs
        self.taskIndex = taskIndex
    }

    /// Points every input that reads `slot` at `address`.
    func patch(slot: Int, to address: UnsafeMutableRawPointer) {
        for entry in slotEntries[slot] { pointers.base[entry] = address }
    }

    /// Whether a kernel met bad input in the last run (cleared by ``clearFailure()``).
    var failed: Bool { failure.base.pointee != 0 }
    func clearFailure() { failure.base.pointee = 0 }
}
