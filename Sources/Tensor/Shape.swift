/// A tensor shape of up to four dimensions, ggml-style: `ne[0]` varies fastest in memory.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    /// The dimensions, fastest first; never empty, at most four, each ≥ 0.
    public let dims: [Int]

    /// Creates a shape; `dims` lists `ne0, ne1, …` (fastest first).
    public init(_ dims: [Int]) {
        precondition(!dims.isEmpty && dims.count <= 4, "a shape has 1 to 4 dimensions")
        precondition(dims.allSatisfy { $0 >= 0 }, "dimensions are non-negative")
        self.dims = dims
    }

    /// Creates a shape from its dimensions, fastest first.
    public init(_ dims: Int...) { self.init(dims) }

    /// Dimension `i` (1 past the rank).
    public subscript(i: Int) -> Int { i < dims.count ? dims[i] : 1 }

    /// Number of dimensions.
    public var rank: Int { dims.count }

    /// Total number of elements.
    public var count: Int { dims.reduce(1, *) }

    /// Length of a row (`ne0`).
    public var rowLength: Int { dims[0] }

    /// Number of rows (product of every dimension after the first).
    public var rowCount: Int { dims.dropFirst().reduce(1, *) }

    /// `[ne0, ne1, …]`.
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// The element count of `dims`, or nil when the product overflows `Int`.
    public static func checkedCount(_ dims: [Int]) -> Int? {
        var total = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            total = product
        }
        return total
    }
}
