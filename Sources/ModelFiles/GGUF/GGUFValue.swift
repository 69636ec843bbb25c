/// GGUF metadata value types (the `value_type` field).
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64
}

extension GGUFValueType {
    /// Bytes of one value in a file, for the fixed-size types (nil for strings and arrays).
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }
}

/// A GGUF metadata value of any of the thirteen types.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String)
    /// Elements all of one type.
    case array(GGUFArray)
    case uint64(UInt64), int64(Int64), float64(Double)

    /// An array of `values`, all of `elementType`.
    public static func array(_ elementType: GGUFValueType, _ values: [GGUFValue]) -> GGUFValue {
        .array(GGUFArray(elementType, values))
    }

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an integer, for any integer type.
    public var integer: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A short rendering for `rwkv info` (arrays summarised).
    public var summary: String {
        switch self {
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(57))…\"" : "\"\(s)\""
        case .array(let values):
            let head = values.prefix(3).map(\.summary).joined(separator: ", ")
            return "[\(values.elementType) × \(values.count)] " + (values.count > 3 ? "[\(head), …]" : "[\(head)]")
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return integer.map(String.init) ?? "?"
        }
    }
}

/// The elements of a GGUF array, all of one type. Fixed-size elements are kept as their little-endian bytes
/// (a `uint8` array takes one byte per element in memory, as in the file); strings and nested arrays as values.
public struct GGUFArray: Equatable, Sendable, RandomAccessCollection {
    public typealias Element = GGUFValue
    public typealias Index = Int
    public let elementType: GGUFValueType
    /// The file bytes of fixed-size elements.
    private let packed: [UInt8]
    /// String and array elements.
    private let items: [GGUFValue]

    /// An array of `values`, which must all be of `elementType`.
    public init(_ elementType: GGUFValueType, _ values: [GGUFValue]) {
        precondition(values.allSatisfy { $0.type == elementType }, "GGUF array elements must all be \(elementType)")
        self.elementType = elementType
        if elementType.fixedSize != nil {
            var writer = ByteWriter()
            for value in values { writer.value(value) }
            packed = writer.bytes
            items = []
        } else {
            packed = []
            items = values
        }
    }

    /// Fixed-size elements from their file bytes (`bytes.count` a multiple of the element size).
    init(elementType: GGUFValueType, packed bytes: [UInt8]) {
        self.elementType = elementType
        packed = bytes
        items = []
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { elementType.fixedSize.map { packed.count / $0 } ?? items.count }

    public subscript(position: Int) -> GGUFValue {
        guard let size = elementType.fixedSize else { return items[position] }
        return packed.withUnsafeBytes { raw in
            var reader = ByteReader(path: "", bytes: raw, offset: position * size)
            var budget = MemoryBudget()
            // The bytes were checked when the array was made (bools are 0 or 1), so reading cannot fail.
            return try! GGUFFile.readValue(&reader, elementType, key: "", budget: &budget, depth: 0)
        }
    }
}
