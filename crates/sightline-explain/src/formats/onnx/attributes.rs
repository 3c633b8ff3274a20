//! Typed access to a node's attributes by name, with ONNX's defaults for absent ones.
//!
//! Real-valued tree attributes come either as `floats` or, since `ai.onnx.ml` opset 3,
//! as a double tensor under the same name plus `_as_tensor`; [`Attributes::reals`]
//! reads whichever is present, so both opsets load the same way.

use std::collections::BTreeMap;

use super::proto::{AttributeProto, TensorProto, data_type};
use crate::error::ModelError;

pub struct Attributes<'a> {
    by_name: BTreeMap<&'a str, &'a AttributeProto>,
}

impl<'a> Attributes<'a> {
    pub fn new(attributes: &'a [AttributeProto]) -> Self {
        Attributes { by_name: attributes.iter().map(|a| (a.name.as_str(), a)).collect() }
    }

    /// A repeated integer attribute; empty when absent.
    pub fn ints(&self, name: &str) -> &'a [i64] {
        self.by_name.get(name).map_or(&[], |a| a.ints.as_slice())
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.by_name.get(name).map_or(default, |a| a.i)
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String, ModelError> {
        match self.by_name.get(name) {
            None => Ok(default.to_owned()),
            Some(a) => utf8(name, &a.s),
        }
    }

    /// A repeated string attribute; empty when absent.
    pub fn strings(&self, name: &str) -> Result<Vec<String>, ModelError> {
        self.by_name.get(name).map_or(Ok(Vec::new()), |a| a.strings.iter().map(|s| utf8(name, s)).collect())
    }

    /// `name_as_tensor` if present, else the float list `name` widened; empty when neither.
    pub fn reals(&self, name: &str) -> Result<Vec<f64>, ModelError> {
        if let Some(tensor) = self.by_name.get(format!("{name}_as_tensor").as_str()).and_then(|a| a.t.as_ref()) {
            return tensor_reals(name, tensor);
        }
        Ok(self.by_name.get(name).map_or_else(Vec::new, |a| a.floats.iter().map(|&f| f64::from(f)).collect()))
    }
}

fn utf8(name: &str, bytes: &[u8]) -> Result<String, ModelError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ModelError::Invalid(format!("attribute {name} is not utf-8")))
}

/// The values of a float or double tensor, from its typed field or its little-endian
/// `raw_data`.
fn tensor_reals(name: &str, tensor: &TensorProto) -> Result<Vec<f64>, ModelError> {
    if tensor.data_location == 1 {
        return Err(ModelError::Unsupported(format!("attribute {name}_as_tensor stored in an external file")));
    }
    let raw = &tensor.raw_data;
    let misaligned = |width: usize| {
        ModelError::Invalid(format!(
            "attribute {name}_as_tensor has {} raw bytes, not a multiple of {width}",
            raw.len()
        ))
    };
    match tensor.data_type {
        data_type::DOUBLE if raw.is_empty() => Ok(tensor.double_data.clone()),
        data_type::DOUBLE => {
            if !raw.len().is_multiple_of(8) {
                return Err(misaligned(8));
            }
            Ok(raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect())
        }
        data_type::FLOAT if raw.is_empty() => Ok(tensor.float_data.iter().map(|&f| f64::from(f)).collect()),
        data_type::FLOAT => {
            if !raw.len().is_multiple_of(4) {
                return Err(misaligned(4));
            }
            Ok(raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect())
        }
        other => Err(ModelError::Unsupported(format!("attribute {name}_as_tensor of tensor data type {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attribute(name: &str) -> AttributeProto {
        AttributeProto { name: name.into(), ..Default::default() }
    }

    #[test]
    fn reads_reals_from_floats_or_either_tensor_encoding() {
        let floats = AttributeProto { floats: vec![0.5, 1.25], ..attribute("v") };
        assert_eq!(Attributes::new(std::slice::from_ref(&floats)).reals("v"), Ok(vec![0.5, 1.25]));
        let raw: Vec<u8> = [0.1f64, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let tensor = |data_type, raw_data: Vec<u8>, double_data| AttributeProto {
            t: Some(TensorProto { data_type, raw_data, double_data, ..Default::default() }),
            ..attribute("v_as_tensor")
        };
        let both = [floats.clone(), tensor(data_type::DOUBLE, raw.clone(), vec![])];
        assert_eq!(Attributes::new(&both).reals("v"), Ok(vec![0.1, -2.0]), "the tensor wins");
        let typed = [tensor(data_type::DOUBLE, vec![], vec![3.5])];
        assert_eq!(Attributes::new(&typed).reals("v"), Ok(vec![3.5]));
        let bad = [tensor(data_type::DOUBLE, raw[..5].to_vec(), vec![])];
        assert!(Attributes::new(&bad).reals("v").is_err_and(|e| e.to_string().contains("not a multiple of 8")));
        // 7 is INT64.
        let int = [tensor(7, vec![], vec![])];
        assert!(Attributes::new(&int).reals("v").is_err_and(|e| e.to_string().contains("data type 7")));
        assert_eq!(Attributes::new(&[]).reals("v"), Ok(vec![]));
    }
}
