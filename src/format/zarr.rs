//! Zarr data type names (v3 names and v2 NumPy type strings) and element
//! types, both ways.

use crate::dtype::DType;

/// The element type a Zarr data type name stands for (`uint16`, `<u2`, …),
/// or `None` for types this crate does not read.
pub(crate) fn dtype_from_name(name: &str) -> Option<DType> {
    Some(match name {
        "uint8" | "|u1" | "<u1" | ">u1" => DType::U8,
        "int8" | "|i1" | "<i1" | ">i1" => DType::I8,
        "uint16" | "<u2" | ">u2" => DType::U16,
        "int16" | "<i2" | ">i2" => DType::I16,
        "uint32" | "<u4" | ">u4" => DType::U32,
        "int32" | "<i4" | ">i4" => DType::I32,
        "uint64" | "<u8" | ">u8" => DType::U64,
        "int64" | "<i8" | ">i8" => DType::I64,
        "float32" | "<f4" | ">f4" => DType::F32,
        "float64" | "<f8" | ">f8" => DType::F64,
        _ => return None,
    })
}

/// The `zarrs` data type a Zarr array of `dtype` is written with.
#[cfg_attr(not(feature = "fragment"), allow(dead_code))]
pub(crate) fn data_type(dtype: DType) -> zarrs::array::DataType {
    use zarrs::array::data_type as dt;
    match dtype {
        DType::U8 => dt::uint8(),
        DType::I8 => dt::int8(),
        DType::U16 => dt::uint16(),
        DType::I16 => dt::int16(),
        DType::U32 => dt::uint32(),
        DType::I32 => dt::int32(),
        DType::U64 => dt::uint64(),
        DType::I64 => dt::int64(),
        DType::F32 => dt::float32(),
        DType::F64 => dt::float64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_zarrs() {
        for d in DType::ALL {
            let t = data_type(d);
            let v3 = zarrs::plugin::ExtensionName::name(&t, zarrs::plugin::ZarrVersion::V3)
                .expect("a v3 name");
            assert_eq!(dtype_from_name(&v3), Some(d), "{v3}");
        }
        assert_eq!(dtype_from_name("<f2"), None);
    }
}
