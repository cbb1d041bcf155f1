//! Loader for TensorFlow.js weight manifests as shipped by `@vladmandic/face-api`.
//!
//! A model is `<name>-weights_manifest.json` plus the binary shard files it lists. The manifest is
//! a JSON array of groups `{paths: [shard…], weights: [{name, shape, dtype, quantization?}…]}`;
//! the tensors are stored back to back in the concatenated shards, in manifest order. face-api's
//! weights are uint8-quantised per tensor: `value = q * scale + min` (TF.js
//! `io.decodeWeights`, affine uint8 quantisation). Plain float32 tensors are read little-endian.
//!
//! The files are operator-supplied, not user input, but are still parsed defensively: every size is
//! checked before anything is allocated from it, and the total is capped.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Conv, SeparableConv};
use crate::FaceError;
use crate::models::ModelSource;

/// Upper bound on a model's binary size; the largest network we load is 6.4 MB.
const MAX_MODEL_BYTES: u64 = 64 * 1024 * 1024;
/// Upper bound on a manifest's size.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

#[derive(Deserialize)]
struct Group {
    paths: Vec<String>,
    weights: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Deserialize)]
struct Quantization {
    dtype: String,
    scale: f32,
    min: f32,
}

/// The dequantised tensors of one model, by name.
pub struct Weights {
    file: String,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    /// Reads `<model>-weights_manifest.json` and its shards from `source`.
    ///
    /// # Errors
    /// [`FaceError::ModelNotFound`] for a missing file, [`FaceError::ModelInvalid`] for a manifest
    /// that does not parse, a shard path that leaves the directory, or sizes that disagree.
    pub fn load(source: ModelSource<'_>, model: &str) -> Result<Self, FaceError> {
        let manifest_name = format!("{model}-weights_manifest.json");
        let manifest_bytes = source.read(&manifest_name, MAX_MANIFEST_BYTES)?;
        let groups: Vec<Group> = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| invalid(&manifest_name, format!("manifest does not parse: {e}")))?;
        let mut tensors = HashMap::new();
        let mut total = 0u64;
        for group in groups {
            let mut bytes = Vec::new();
            for path in &group.paths {
                if path.contains('/') || path.contains('\\') || path.starts_with('.') {
                    return Err(invalid(
                        &manifest_name,
                        format!("shard path {path:?} is not a plain file name"),
                    ));
                }
                let shard = source.read(path, MAX_MODEL_BYTES)?;
                total += shard.len() as u64;
                if total > MAX_MODEL_BYTES {
                    return Err(invalid(
                        &manifest_name,
                        "model is larger than the cap".into(),
                    ));
                }
                bytes.extend_from_slice(&shard);
            }
            let mut offset = 0usize;
            for entry in group.weights {
                let count = entry
                    .shape
                    .iter()
                    .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                    .filter(|&n| n as u64 <= MAX_MODEL_BYTES)
                    .ok_or_else(|| {
                        invalid(
                            &manifest_name,
                            format!("tensor {} has an absurd shape", entry.name),
                        )
                    })?;
                let values = match (&entry.quantization, entry.dtype.as_str()) {
                    (Some(q), "float32") if q.dtype == "uint8" => {
                        let raw = bytes.get(offset..offset + count).ok_or_else(|| {
                            invalid(
                                &manifest_name,
                                format!("tensor {} runs past the shards", entry.name),
                            )
                        })?;
                        offset += count;
                        raw.iter()
                            .map(|&b| f32::from(b) * q.scale + q.min)
                            .collect::<Vec<f32>>()
                    }
                    (None, "float32") => {
                        let len = count * 4;
                        let raw = bytes.get(offset..offset + len).ok_or_else(|| {
                            invalid(
                                &manifest_name,
                                format!("tensor {} runs past the shards", entry.name),
                            )
                        })?;
                        offset += len;
                        raw.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect()
                    }
                    _ => {
                        return Err(invalid(
                            &manifest_name,
                            format!(
                                "tensor {} has unsupported dtype {}",
                                entry.name, entry.dtype
                            ),
                        ));
                    }
                };
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(invalid(
                        &manifest_name,
                        format!("tensor {} holds non-finite values", entry.name),
                    ));
                }
                tensors.insert(entry.name, (entry.shape, values));
            }
            if offset != bytes.len() {
                return Err(invalid(
                    &manifest_name,
                    "shards hold bytes the manifest does not describe".into(),
                ));
            }
        }
        Ok(Self {
            file: manifest_name,
            tensors,
        })
    }

    /// Takes the tensor `name`, which must have exactly `shape`.
    ///
    /// # Errors
    /// [`FaceError::ModelInvalid`] when it is missing or shaped differently.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, FaceError> {
        let (actual, values) = self
            .tensors
            .remove(name)
            .ok_or_else(|| invalid(&self.file, format!("tensor {name} is missing")))?;
        if actual != shape {
            return Err(invalid(
                &self.file,
                format!("tensor {name} has shape {actual:?}, expected {shape:?}"),
            ));
        }
        Ok(values)
    }

    /// A dense convolution `<prefix>/filters` + `<prefix>/bias`.
    ///
    /// # Errors
    /// As [`Weights::take`].
    pub fn conv(
        &mut self,
        prefix: &str,
        k: usize,
        cin: usize,
        cout: usize,
    ) -> Result<Conv, FaceError> {
        Ok(Conv {
            kh: k,
            kw: k,
            cin,
            cout,
            filters: self.take(&format!("{prefix}/filters"), &[k, k, cin, cout])?,
            bias: self.take(&format!("{prefix}/bias"), &[cout])?,
        })
    }

    /// A depthwise-separable convolution `<prefix>/{depthwise_filter,pointwise_filter,bias}`.
    ///
    /// # Errors
    /// As [`Weights::take`].
    pub fn separable(
        &mut self,
        prefix: &str,
        cin: usize,
        cout: usize,
    ) -> Result<SeparableConv, FaceError> {
        Ok(SeparableConv {
            kh: 3,
            kw: 3,
            cin,
            cout,
            depthwise: self.take(&format!("{prefix}/depthwise_filter"), &[3, 3, cin, 1])?,
            pointwise: self.take(&format!("{prefix}/pointwise_filter"), &[1, 1, cin, cout])?,
            bias: self.take(&format!("{prefix}/bias"), &[cout])?,
        })
    }

    /// Fails when tensors are left over: a manifest with unexpected tensors is not the model the
    /// code was written for.
    ///
    /// # Errors
    /// [`FaceError::ModelInvalid`] naming one leftover tensor.
    pub fn finish(self) -> Result<(), FaceError> {
        match self.tensors.keys().next() {
            Some(name) => Err(invalid(&self.file, format!("unexpected tensor {name}"))),
            None => Ok(()),
        }
    }
}

fn invalid(file: &str, reason: String) -> FaceError {
    FaceError::ModelInvalid {
        file: file.to_owned(),
        reason,
    }
}
