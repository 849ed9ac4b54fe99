//! Photos for the communication folder: synthetic outdoor scenes (sky and ground gradients,
//! a sun, buildings, sensor noise) encoded as baseline JPEG, so they are as incompressible as
//! real photos.

use std::io;

use fastrand::Rng;
use jpeg_encoder::{ColorType, Encoder};

/// Encoder quality of a typical camera (no chroma subsampling at this level).
const QUALITY: u8 = 92;
/// What the sensor noise below costs at that quality, measured on generated scenes.
const ENCODED_BYTES_PER_PIXEL: f64 = 1.0;
/// Noise amplitude per channel: enough grain to keep the encoded size near real photos.
const NOISE: u8 = 64;

/// A 4:3 photo of roughly `target_bytes`.
pub(crate) fn photo_jpeg(rng: &mut Rng, target_bytes: u64) -> io::Result<Vec<u8>> {
    let (width, height) = photo_dimensions(target_bytes);
    let pixels = outdoor_scene(rng, usize::from(width), usize::from(height));
    let mut jpeg = Vec::with_capacity(target_bytes as usize + 1024);
    Encoder::new(&mut jpeg, QUALITY)
        .encode(&pixels, width, height, ColorType::Rgb)
        .map_err(io::Error::other)?;
    Ok(jpeg)
}

fn photo_dimensions(target_bytes: u64) -> (u16, u16) {
    let pixels = target_bytes as f64 / ENCODED_BYTES_PER_PIXEL;
    let width = (pixels * 4.0 / 3.0).sqrt().clamp(64.0, 8192.0) as u16;
    (width, width / 4 * 3)
}

/// RGB pixels, row by row.
fn outdoor_scene(rng: &mut Rng, width: usize, height: usize) -> Vec<u8> {
    let horizon = height * rng.usize(45..65) / 100;
    let sun = Sun {
        x: rng.usize(..width),
        y: rng.usize(..horizon.max(1)),
        radius: (height / 12).max(2),
    };
    let buildings = random_buildings(rng, width, height, horizon);
    let mut pixels = Vec::with_capacity(width * height * 3);
    let mut row = vec![0u8; width * 3];
    for y in 0..height {
        paint_background(&mut row, y, height, horizon);
        paint_sun(&mut row, y, &sun);
        for building in buildings
            .iter()
            .filter(|building| (building.top..horizon).contains(&y))
        {
            paint_span(&mut row, building.left, building.right, building.color);
        }
        add_sensor_noise(rng, &mut row);
        pixels.extend_from_slice(&row);
    }
    pixels
}

struct Sun {
    x: usize,
    y: usize,
    radius: usize,
}

/// A building facade standing on the horizon, columns `left..right`, rows `top..horizon`.
struct Building {
    left: usize,
    right: usize,
    top: usize,
    color: [u8; 3],
}

fn random_buildings(rng: &mut Rng, width: usize, height: usize, horizon: usize) -> Vec<Building> {
    (0..rng.usize(2..6))
        .map(|_| {
            let left = rng.usize(..width);
            Building {
                left,
                right: (left + rng.usize(width / 12..width / 4 + 1)).min(width),
                top: horizon.saturating_sub(rng.usize(height / 10..height / 3 + 1)),
                color: [rng.u8(120..230), rng.u8(100..200), rng.u8(80..180)],
            }
        })
        .collect()
}

/// Sky fading towards the horizon, then fields darkening towards the bottom and the right.
fn paint_background(row: &mut [u8], y: usize, height: usize, horizon: usize) {
    let width = row.len() / 3;
    for (x, pixel) in row.chunks_exact_mut(3).enumerate() {
        let color = if y < horizon {
            let t = (y * 255 / horizon.max(1)) as u8;
            [90 + t / 2, 140 + t / 3, 220 + t / 14]
        } else {
            let t = ((y - horizon) * 255 / (height - horizon).max(1)) as u8;
            let shade = (x * 40 / width.max(1)) as u8;
            [60 + t / 4 + shade, 140 - t / 4, 50 + t / 6]
        };
        pixel.copy_from_slice(&color);
    }
}

fn paint_sun(row: &mut [u8], y: usize, sun: &Sun) {
    let dy = y.abs_diff(sun.y);
    if dy < sun.radius {
        let half_chord = ((sun.radius * sun.radius - dy * dy) as f64).sqrt() as usize;
        let left = sun.x.saturating_sub(half_chord);
        paint_span(row, left, sun.x + half_chord, [255, 236, 170]);
    }
}

fn paint_span(row: &mut [u8], left: usize, right: usize, color: [u8; 3]) {
    let right = right.min(row.len() / 3);
    if left < right {
        for pixel in row[left * 3..right * 3].chunks_exact_mut(3) {
            pixel.copy_from_slice(&color);
        }
    }
}

/// Uniform grain on every channel, eight channels per random word.
fn add_sensor_noise(rng: &mut Rng, row: &mut [u8]) {
    for chunk in row.chunks_mut(8) {
        let grain = rng.u64(..).to_le_bytes();
        for (value, noise) in chunk.iter_mut().zip(grain) {
            *value = value
                .saturating_add(noise % NOISE)
                .saturating_sub(NOISE / 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_is_a_jpeg_of_about_the_requested_size() {
        let jpeg = photo_jpeg(&mut Rng::with_seed(4), 100_000).unwrap_or_default();
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
        assert!(jpeg.ends_with(&[0xFF, 0xD9]));
        assert!((70_000..130_000).contains(&jpeg.len()), "{}", jpeg.len());
    }
}
