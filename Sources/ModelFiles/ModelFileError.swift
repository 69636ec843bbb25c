import Tensor

/// A problem with a model file: one line that names the file and what is wrong.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let problem: String

    public init(_ path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    /// `path: problem` on one line (control characters from file contents are escaped).
    public var description: String { Self.printable("\(path): \(problem)") }

    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension MappedFile {
    /// Maps `path`, turning an open/map failure into a ``ModelFileError`` naming the file.
    public static func mapping(_ path: String) throws -> MappedFile {
        do {
            return try MappedFile(path: path)
        } catch let error as MappedFile.OpenError {
            throw ModelFileError(path, error.description.replacingPrefix(path + ": "))
        }
    }
}
