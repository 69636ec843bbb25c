/// Turns a recorded node into a ``KernelTask``: picks the kernel, its work units and their cost.
enum Lowering {
    /// Rough cost weights (ns) per unit of work, used only to balance threads within a phase.
    private static let nsPerWeightByte = 0.05, nsPerFlop = 0.02, nsPerElement = 0.3, nsPerTranscendental = 3.0

    static func task(for node: Graph.Node, graph: Graph, out: UnsafeMutableRawPointer,
                     inputs: UnsafeMutablePointer<UnsafeMutableRawPointer>) -> KernelTask {
        let first = node.inputs.first.map { graph.shape($0) } ?? node.shape
        let width = first[0], rows = first.rowCount
        func rowTask(_ kind: KernelTask.Kind, nsPerValue: Double = nsPerElement) -> KernelTask {
            KernelTask(kind: kind, out: out, inputs: inputs, width: width, rows: rows,
                       unitCount: rows, unitCost: Double(width) * nsPerValue)
        }
        func broadcasts(_ index: Int) -> Bool { graph.shape(node.inputs[index]) != first }

        switch node.op {
        case .slot, .weight:
            preconditionFailure("leaves are not lowered")
        case .matmul:
            let weight = node.inputs[0]
            let type = graph.dtype(weight)
            let m = graph.shape(weight)[1], k = width
            let activationRows = graph.shape(node.inputs[1]).rowCount
            var task = KernelTask(kind: .matmulBlocks, dtype: type, out: out, inputs: inputs, width: k,
                                  rows: activationRows, outWidth: m, unitCount: 0, unitCost: 0)
            let perUnit: Int
            switch type {
            case .f32 where activationRows > 1:
                task.kind = .matmulF32
                perUnit = KernelTask.gemmRowsPerUnit
                task.unitCost = Double(perUnit * k * activationRows) * nsPerFlop * 2
            case .f32, .f16, .q8_0, .q4_0, .q8_0r8, .q4_0r8:
                task.kind = type == .f32 ? .matmulF32 : type == .f16 ? .matmulF16 : .matmulQuantized
                // Interleaved weights come in groups of 8 rows; a unit holds whole groups.
                perUnit = KernelTask.matvecRowsPerUnit
                // Decode reads the weights once; prefill is compute-bound (one multiply-add per weight and token).
                task.unitCost = Double(perUnit) * (Double(type.rowBytes(k)) * nsPerWeightByte + Double(k * (activationRows - 1)) * nsPerFlop)
            default:
                perUnit = KernelTask.matvecRowsPerUnit
                task.unitCost = Double(perUnit * type.rowBytes(k)) * nsPerWeightByte * Double(activationRows) * 4
            }
            task.unitCount = (m + perUnit - 1) / perUnit
            return task
        case .convertRows(let type):
            var task = rowTask(.convertRows, nsPerValue: 1)
            task.dtype = type
            return task
        case .add, .sub, .mul:
            let kind: KernelTask.Kind = switch node.op {
            case .add: .add
            case .sub: .sub
            default: .mul
            }
            var task = rowTask(kind)
            task.broadcast = broadcasts(1)
            return task
        case .lerp:
            var task = rowTask(.lerp)
            task.broadcast = broadcasts(2)
            return task
        case .shift:
            return rowTask(.shift)
        case .scale(let factor):
            var task = rowTask(.scale)
            task.parameter = factor
            return task
        case .unary(let function):
            var task = rowTask(.unary, nsPerValue: function == .negate || function == .reluSquared ? nsPerElement : nsPerTranscendental)
            task.function = function
            return task
        case .layerNorm(let eps):
            var task = rowTask(.layerNorm)
            task.parameter = eps
            return task
        case .groupNorm(let groups, let eps):
            var task = rowTask(.groupNorm)
            task.parameter = eps
            task.size = groups
            return task
        case .l2NormalizeHeads(let headSize, let eps):
            var task = rowTask(.l2NormalizeHeads)
            task.parameter = eps
            task.size = headSize
            return task
        case .headDotScale(let headSize):
            var task = rowTask(.headDotScale)
            task.broadcast = broadcasts(2)
            task.size = headSize
            return task
        case .vectorTimesTokenMatrix(let rows, let columns):
            var task = rowTask(.vectorTimesTokenMatrix)
            task.size = columns
            task.unitCost = Double(rows * columns) * nsPerElement
            return task
        case .getRows:
            let table = graph.shape(node.inputs[0])
            var task = KernelTask(kind: .getRows, dtype: graph.dtype(node.inputs[0]), out: out, inputs: inputs,
                                  width: table[0], rows: node.shape[1], unitCount: node.shape[1],
                                  unitCost: Double(table[0]) * nsPerElement)
            task.size = table[1]
            return task
        case .rows(let start, _):
            var task = rowTask(.rows)
            task.rows = node.shape[1]
            task.unitCount = node.shape[1]
            task.size = start
            return task
        case .wkv7(let n):
            let perUnit = KernelTask.wkvRowsPerUnit(headSize: n, tokens: rows)
            let blocks = (n + perUnit - 1) / perUnit
            var task = KernelTask(kind: .wkv7, out: out, inputs: inputs, width: width, rows: rows,
                                  unitCount: width / n * blocks,
                                  unitCost: Double(perUnit * n * rows * 6) * nsPerFlop)
            task.size = n
            return task
        case .store:
            return rowTask(.store)
        }
    }
}
