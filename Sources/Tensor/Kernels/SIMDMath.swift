/// Small SIMD building blocks shared by the kernels. Each reduces in a fixed order, so a result never
/// depends on which thread computes it.
enum SIMDMath {
    typealias V16 = SIMD16<Float>

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V16 {
        UnsafeRawPointer(p).loadUnaligned(as: V16.self)
    }

    @inline(__always) static func store(_ v: V16, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self)
    }

    /// Horizontal sum by halving (8 + 8, 4 + 4, 2 + 2, 1 + 1): a few shuffles instead of a lane-by-lane chain.
    @inline(__always) static func horizontalSum(_ v: V16) -> Float {
        let h8 = v.lowHalf + v.highHalf
        let h4 = h8.lowHalf + h8.highHalf
        let h2 = h4.lowHalf + h4.highHalf
        return h2[0] + h2[1]
    }

    /// `Σ a[i]·b[i]` with four 16-lane accumulators, then the tail in order.
    @inline(__always) static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = V16(), acc1 = V16(), acc2 = V16(), acc3 = V16()
        var i = 0
        while i + 64 <= n {
            acc0.addProduct(load(a + i), load(b + i))
            acc1.addProduct(load(a + i + 16), load(b + i + 16))
            acc2.addProduct(load(a + i + 32), load(b + i + 32))
            acc3.addProduct(load(a + i + 48), load(b + i + 48))
            i += 64
        }
        while i + 16 <= n {
            acc0.addProduct(load(a + i), load(b + i))
            i += 16
        }
        var sum = horizontalSum((acc0 + acc1) + (acc2 + acc3))
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// `Σ a[i]`.
    @inline(__always) static func sum(_ a: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V16()
        var i = 0
        while i + 16 <= n {
            acc += load(a + i)
            i += 16
        }
        var total = horizontalSum(acc)
        while i < n {
            total += a[i]
            i += 1
        }
        return total
    }

    /// `Σ (a[i] − mean)²`.
    @inline(__always) static func sumSquaredDeviations(_ a: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
        var acc = V16()
        let m = V16(repeating: mean)
        var i = 0
        while i + 16 <= n {
            let d = load(a + i) - m
            acc.addProduct(d, d)
            i += 16
        }
        var total = horizontalSum(acc)
        while i < n {
            let d = a[i] - mean
            total += d * d
            i += 1
        }
        return total
    }
}
