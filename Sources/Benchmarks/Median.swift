import Tensor

extension Array where Element == Double {
    /// The benchmarks' median: the middle of the sorted values, the upper of the two middle ones for an
    /// even count. The array must not be empty.
    public var median: Double { sorted()[count / 2] }
}
